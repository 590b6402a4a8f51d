//! Znode paths: validation exactly as ZooKeeper's `PathUtils.validatePath`, and splitting.

/// Why a path is not a valid znode path. The message says what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must not be empty")]
    Empty,
    #[error("path {0:?} must start with '/'")]
    NoLeadingSlash(String),
    #[error("path {0:?} must not end with '/'")]
    TrailingSlash(String),
    #[error("path {path:?} has a null character at {at}")]
    NullChar { path: String, at: usize },
    #[error("path {path:?} has an empty node name at {at}")]
    EmptyName { path: String, at: usize },
    #[error("path {path:?} has a relative component ('.' or '..') at {at}")]
    Relative { path: String, at: usize },
    #[error("path {path:?} has an invalid character at {at}")]
    InvalidChar { path: String, at: usize },
}

/// Characters `PathUtils` refuses: controls, the C1 block, the surrogate and private-use
/// ranges `\ud800-\uf8ff`, and `\ufff0-\uffff`. A character outside the Basic Multilingual
/// Plane is a surrogate pair in Java, so it falls in the refused surrogate range too.
fn is_invalid_char(c: char) -> bool {
    let c = c as u32;
    (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || c >= 0xfff0
}

/// Validate a znode path as ZooKeeper 3.8's `PathUtils.validatePath(String)` does.
/// Positions in errors are character indices.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    let chars: Vec<char> = path.chars().collect();
    if chars.is_empty() {
        return Err(PathError::Empty);
    }
    if chars[0] != '/' {
        return Err(PathError::NoLeadingSlash(path.to_string()));
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == '/' {
        return Err(PathError::TrailingSlash(path.to_string()));
    }
    let owned = || path.to_string();
    for i in 1..chars.len() {
        let (c, last) = (chars[i], chars[i - 1]);
        let component_ends = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            return Err(PathError::NullChar {
                path: owned(),
                at: i,
            });
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptyName {
                path: owned(),
                at: i,
            });
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && component_ends {
                return Err(PathError::Relative {
                    path: owned(),
                    at: i,
                });
            }
        } else if c == '.' {
            if last == '/' && component_ends {
                return Err(PathError::Relative {
                    path: owned(),
                    at: i,
                });
            }
        } else if is_invalid_char(c) {
            return Err(PathError::InvalidChar {
                path: owned(),
                at: i,
            });
        }
    }
    Ok(())
}

/// Split at the last '/': (parent, child name). `"/a"` gives `("", "a")`: the root's alias
/// `""` is how ZooKeeper's DataTree names the parent of a top-level node.
pub fn split_last(path: &str) -> Option<(&str, &str)> {
    let at = path.rfind('/')?;
    Some((&path[..at], &path[at + 1..]))
}

/// The path ZooKeeper uses when it triggers child watches of a parent: `""` becomes `"/"`.
pub fn watch_parent(parent: &str) -> &str {
    if parent.is_empty() { "/" } else { parent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_path_utils_accepts() {
        // PathUtils accepts the root, plain names, dots inside names and "..." components.
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/.a",
            "/a.",
            "/...",
            "/a/...",
            "/é",
            "/zookeeper",
        ] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refuses_what_path_utils_refuses() {
        // Each refusal names its reason.
        assert_eq!(validate_path(""), Err(PathError::Empty));
        assert!(matches!(
            validate_path("a"),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(
            validate_path("/a/"),
            Err(PathError::TrailingSlash(_))
        ));
        assert!(matches!(
            validate_path("//a"),
            Err(PathError::EmptyName { at: 1, .. })
        ));
        assert!(matches!(
            validate_path("/a//b"),
            Err(PathError::EmptyName { at: 3, .. })
        ));
        assert!(matches!(
            validate_path("/."),
            Err(PathError::Relative { at: 1, .. })
        ));
        assert!(matches!(
            validate_path("/a/./b"),
            Err(PathError::Relative { .. })
        ));
        assert!(matches!(
            validate_path("/a/.."),
            Err(PathError::Relative { at: 4, .. })
        ));
        assert!(matches!(
            validate_path("/a\0b"),
            Err(PathError::NullChar { at: 2, .. })
        ));
        assert!(matches!(
            validate_path("/a\u{1}"),
            Err(PathError::InvalidChar { .. })
        ));
        assert!(matches!(
            validate_path("/a\u{85}"),
            Err(PathError::InvalidChar { .. })
        ));
        assert!(matches!(
            validate_path("/\u{e000}"),
            Err(PathError::InvalidChar { .. })
        ));
        assert!(matches!(
            validate_path("/\u{fff5}"),
            Err(PathError::InvalidChar { .. })
        ));
        assert!(matches!(
            validate_path("/\u{1f600}"),
            Err(PathError::InvalidChar { .. })
        ));
    }

    #[test]
    fn splits_at_the_last_slash() {
        // The parent of a top-level node is the root alias "".
        assert_eq!(split_last("/a"), Some(("", "a")));
        assert_eq!(split_last("/a/b"), Some(("/a", "b")));
        assert_eq!(split_last("a"), None);
        assert_eq!(watch_parent(""), "/");
        assert_eq!(watch_parent("/a"), "/a");
    }
}
