//! Reassembly of BINARY_EVENT and BINARY_ACK packets: the text header announces `n`
//! attachments, which follow as the next `n` binary messages, possibly spread over several
//! polling payloads.
//!
//! The arguments keep their `{"_placeholder": true, "num": k}` objects; attachment `k` is
//! delivered beside them. Placeholders are checked: each names an attachment that exists.

use serde_json::Value;

use super::SioPacket;
use crate::error::ProtocolViolation;

/// A complete packet with its attachments.
pub(crate) type Assembled = (SioPacket, Vec<Vec<u8>>);

/// Collects the attachments of one binary packet at a time, within byte limits.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    pending: Option<(SioPacket, Vec<Vec<u8>>, usize)>,
}

impl Assembler {
    /// Whether attachments are still due.
    pub(crate) fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts a binary packet. A packet that declares no attachments is complete at once.
    pub(crate) fn start(
        &mut self,
        packet: SioPacket,
    ) -> Result<Option<Assembled>, ProtocolViolation> {
        if self.pending.is_some() {
            return Err(ProtocolViolation::Attachments(
                "a text packet arrived while attachments were due",
            ));
        }
        if packet.attachments == 0 {
            check_raw_placeholders(&packet, 0)?;
            return Ok(Some((packet, Vec::new())));
        }
        let capacity = packet.attachments;
        self.pending = Some((packet, Vec::with_capacity(capacity), 0));
        Ok(None)
    }

    /// Adds one attachment; returns the packet when it is complete.
    pub(crate) fn push(
        &mut self,
        bytes: Vec<u8>,
        max_bytes: usize,
    ) -> Result<Option<Assembled>, ProtocolViolation> {
        let Some((packet, parts, total)) = self.pending.as_mut() else {
            return Err(ProtocolViolation::Attachments(
                "a binary message arrived with no binary packet waiting",
            ));
        };
        *total = total.saturating_add(bytes.len());
        if *total > max_bytes {
            self.pending = None;
            return Err(ProtocolViolation::AttachmentsTooLarge);
        }
        parts.push(bytes);
        if parts.len() < packet.attachments {
            return Ok(None);
        }
        let Some((packet, parts, _)) = self.pending.take() else {
            return Ok(None);
        };
        check_raw_placeholders(&packet, parts.len())?;
        Ok(Some((packet, parts)))
    }

    /// Drops a half-assembled packet, on disconnect.
    pub(crate) fn reset(&mut self) {
        self.pending = None;
    }
}

/// [`check_placeholders`] on a packet as received, its data parsed within bounds.
fn check_raw_placeholders(packet: &SioPacket, count: usize) -> Result<(), ProtocolViolation> {
    match packet.value() {
        Some(Ok(v)) => check_placeholders(Some(&v), count),
        Some(Err(e)) => Err(ProtocolViolation::Decode(e)),
        None => check_placeholders(None, count),
    }
}

/// Every placeholder must name an attachment in `0..count`, and every attachment must be named.
pub(crate) fn check_placeholders(
    data: Option<&Value>,
    count: usize,
) -> Result<(), ProtocolViolation> {
    let mut seen = vec![false; count];
    if let Some(data) = data {
        walk(data, &mut seen, 0)?;
    }
    if seen.iter().all(|s| *s) {
        Ok(())
    } else {
        Err(ProtocolViolation::Attachments(
            "an attachment is not referenced",
        ))
    }
}

/// socket.io-parser recurses without a bound; serde_json already caps nesting at 128 levels,
/// and this walk follows the same cap.
fn walk(value: &Value, seen: &mut [bool], depth: usize) -> Result<(), ProtocolViolation> {
    if depth > 128 {
        return Err(ProtocolViolation::Attachments("nesting too deep"));
    }
    match value {
        Value::Array(items) => {
            for item in items {
                walk(item, seen, depth.saturating_add(1))?;
            }
        }
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true)) {
                let num = map
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(ProtocolViolation::Attachments(
                        "placeholder without a valid num",
                    ))?;
                let slot = seen
                    .get_mut(num)
                    .ok_or(ProtocolViolation::Attachments("placeholder out of range"))?;
                *slot = true;
            } else {
                for item in map.values() {
                    walk(item, seen, depth.saturating_add(1))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
