//! NS16550A UART. Bytes the guest transmits go out on a channel; bytes for the guest come in on
//! another and wait in the 16-byte receive FIFO. Transmission is instantaneous, so the
//! transmitter is always empty.

use crate::MmioDevice;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::collections::VecDeque;

pub const SIZE: u64 = 0x100;
const FIFO_LEN: usize = 16;

const IER_RDA: u8 = 0x01;
const IER_THRE: u8 = 0x02;
const IER_RLS: u8 = 0x04;
const LCR_DLAB: u8 = 0x80;
const MCR_LOOP: u8 = 0x10;
const LSR_DR: u8 = 0x01;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

pub struct Uart16550 {
    tx: Sender<u8>,
    rx: Receiver<u8>,
    rx_fifo: VecDeque<u8>,
    rx_closed: bool,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    fcr: u8,
    dll: u8,
    dlm: u8,
    /// The THR-empty interrupt is an edge the 8250 driver depends on: raised when the
    /// transmitter becomes empty (or the interrupt is enabled while it is), cleared by reading
    /// IIR while it is the reported cause, or by writing THR.
    thre_pending: bool,
}

impl Uart16550 {
    pub fn new(tx: Sender<u8>, rx: Receiver<u8>) -> Self {
        Uart16550 {
            tx,
            rx,
            rx_fifo: VecDeque::with_capacity(FIFO_LEN),
            rx_closed: false,
            ier: 0,
            lcr: 0x03,
            mcr: 0,
            scr: 0,
            fcr: 0,
            dll: 1,
            dlm: 0,
            thre_pending: false,
        }
    }

    /// Moves waiting input into the FIFO; never blocks. EOF on the input only stops reading.
    pub fn poll(&mut self) {
        while !self.rx_closed && self.rx_fifo.len() < FIFO_LEN {
            match self.rx.try_recv() {
                Ok(b) => self.rx_fifo.push_back(b),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.rx_closed = true,
            }
        }
    }

    /// Level of the interrupt line.
    pub fn irq(&self) -> bool {
        self.iir() & 1 == 0
    }

    fn iir(&self) -> u8 {
        let fifo_bits = if self.fcr & 1 != 0 { 0xc0 } else { 0 };
        let id = if self.ier & IER_RDA != 0 && !self.rx_fifo.is_empty() {
            0x04
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            0x02
        } else {
            0x01
        };
        fifo_bits | id
    }

    fn transmit(&mut self, b: u8) {
        if self.mcr & MCR_LOOP != 0 {
            if self.rx_fifo.len() < FIFO_LEN {
                self.rx_fifo.push_back(b);
            }
        } else {
            // The console side may have gone away (e.g. a closed pipe): the guest must not
            // notice, so a failed send is dropped like bytes on an unplugged wire.
            let _ = self.tx.send(b);
        }
        self.thre_pending = true;
    }
}

impl MmioDevice for Uart16550 {
    fn read(&mut self, offset: u64, _size: u32) -> u64 {
        let dlab = self.lcr & LCR_DLAB != 0;
        let v = match offset {
            0 if dlab => self.dll,
            0 => {
                self.poll();
                self.rx_fifo.pop_front().unwrap_or(0)
            }
            1 if dlab => self.dlm,
            1 => self.ier,
            2 => {
                let v = self.iir();
                if v & 0x0f == 0x02 {
                    self.thre_pending = false;
                }
                v
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                self.poll();
                let dr = if self.rx_fifo.is_empty() { 0 } else { LSR_DR };
                dr | LSR_THRE | LSR_TEMT
            }
            6 => {
                if self.mcr & MCR_LOOP != 0 {
                    // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
                    let m = self.mcr;
                    ((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4)
                } else {
                    0xb0 // DCD, DSR, CTS: a connected terminal.
                }
            }
            7 => self.scr,
            _ => 0,
        };
        u64::from(v)
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        let v = value as u8;
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.dll = v,
            0 => self.transmit(v),
            1 if dlab => self.dlm = v,
            1 => {
                let enabling_thre = v & IER_THRE != 0 && self.ier & IER_THRE == 0;
                self.ier = v & (IER_RDA | IER_THRE | IER_RLS | 0x08);
                if enabling_thre {
                    self.thre_pending = true;
                }
            }
            2 => {
                if v & 0x02 != 0 {
                    self.rx_fifo.clear();
                }
                self.fcr = v & 0xc9;
            }
            3 => self.lcr = v,
            4 => self.mcr = v & 0x1f,
            7 => self.scr = v,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_and_receive() {
        let (otx, orx) = crossbeam_channel::unbounded();
        let (itx, irx) = crossbeam_channel::unbounded();
        let mut u = Uart16550::new(otx, irx);
        u.write(0, 1, b'h' as u64);
        assert_eq!(orx.try_recv(), Ok(b'h'));
        assert_eq!(u.read(5, 1) & 1, 0);
        itx.send(b'x').unwrap();
        assert_eq!(u.read(5, 1) & 1, 1);
        u.write(1, 1, 1);
        assert!(u.irq());
        assert_eq!(u.read(0, 1), b'x' as u64);
        assert!(!u.irq());
    }

    #[test]
    fn thre_interrupt_is_cleared_by_iir_read() {
        let (otx, _orx) = crossbeam_channel::unbounded();
        let (_itx, irx) = crossbeam_channel::unbounded();
        let mut u = Uart16550::new(otx, irx);
        u.write(1, 1, IER_THRE as u64);
        assert!(u.irq());
        assert_eq!(u.read(2, 1) & 0xf, 2);
        assert!(!u.irq());
        u.write(0, 1, b'a' as u64);
        assert!(u.irq());
    }

    #[test]
    fn input_eof_does_not_disturb_guest() {
        let (otx, _orx) = crossbeam_channel::unbounded();
        let (itx, irx) = crossbeam_channel::unbounded();
        let mut u = Uart16550::new(otx, irx);
        drop(itx);
        assert_eq!(u.read(5, 1) & 1, 0);
        assert_eq!(u.read(0, 1), 0);
    }
}
