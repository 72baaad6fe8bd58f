//! MMX and SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 with MXCSR rounding and exceptions.

use super::block::Handler;
use iced_x86::Code;

pub fn handler(_code: Code) -> Option<Handler> {
    None
}
