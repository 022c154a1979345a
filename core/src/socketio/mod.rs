//! Socket.IO v5: packets `<type>[<n>-][<nsp>,][<id>][<json>]` and binary attachments.

mod binary;
mod packet;

pub(crate) use binary::{check_placeholders, Assembled, Assembler};
pub(crate) use packet::{PacketType, SioPacket, RESERVED_EVENTS};

#[cfg(test)]
mod tests;
