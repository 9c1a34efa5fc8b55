//! Bounds on the shape of untrusted structure: how deep maps and lists may
//! nest in a record document or in a request body, and how long a change's
//! commit message may be. Every walk over such structure is either
//! iterative or stops at these bounds, so no input can exhaust a thread's
//! stack (a server worker has [`WORKER_STACK_BYTES`]).

use crate::error::Violation;
use serde_json::Value;

/// Deepest nesting of maps and lists a record or a request body may have;
/// the root object is level 1. Records nest at most four levels
/// (`actions.0.owner_id`), so this leaves room for new fields while keeping
/// every walk shallow.
pub const MAX_DEPTH: usize = 16;

/// The stable code of a structure nested deeper than [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "too_deep";

/// Longest commit message a change may carry, in bytes. Devices and the
/// server write a short JSON author (`{"user": ..., "device": ...}`, under
/// 200 bytes); a message is not shown anywhere, so a long one only costs
/// memory each time the change is read.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// The stable code of a change whose message is longer than
/// [`MAX_MESSAGE_BYTES`].
pub const MESSAGE_TOO_LONG: &str = "message_too_long";

/// The stack of the threads that handle a server's requests and run its
/// CPU pool's work: actix's workers and tokio's blocking threads take
/// Rust's default for a spawned thread (unless `RUST_MIN_STACK` says
/// otherwise). Every walk over untrusted structure must fit in it; the fuzz
/// targets run each input on a thread this size.
pub const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// The violation naming `path` (dotted) as nested too deep.
pub fn too_deep(path: &str) -> Violation {
    Violation::new(
        path,
        TOO_DEEP,
        format!("maps and lists may nest at most {MAX_DEPTH} levels deep"),
    )
}

/// The first place where `value` nests deeper than [`MAX_DEPTH`], found
/// without recursion.
pub fn depth_violation(value: &Value) -> Option<Violation> {
    let mut stack: Vec<(&Value, usize, String)> = vec![(value, 1, String::new())];
    while let Some((value, depth, path)) = stack.pop() {
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Object(members) => Box::new(members.iter().map(|(k, v)| (k.clone(), v))),
            Value::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v)))
            }
            _ => continue,
        };
        for (segment, child) in children {
            if matches!(child, Value::Object(_) | Value::Array(_)) {
                let child_path = join(&path, &segment);
                if depth + 1 > MAX_DEPTH {
                    return Some(too_deep(&child_path));
                }
                stack.push((child, depth + 1, child_path));
            }
        }
    }
    None
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut value = json!("leaf");
        for _ in 0..levels {
            value = json!({ "a": value });
        }
        value
    }

    #[test]
    fn nesting_up_to_the_bound_passes_and_one_more_level_is_named() {
        assert_eq!(depth_violation(&nested(MAX_DEPTH)), None);
        let violation = depth_violation(&nested(MAX_DEPTH + 1));
        let path = vec!["a"; MAX_DEPTH].join(".");
        assert_eq!(violation, Some(too_deep(&path)));
    }

    #[test]
    fn lists_count_as_levels_too() {
        let mut value = json!(1);
        for _ in 0..=MAX_DEPTH {
            value = json!([value]);
        }
        assert_eq!(
            depth_violation(&value).map(|v| v.code),
            Some(TOO_DEEP.to_owned())
        );
    }
}
