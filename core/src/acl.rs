//! ACLs: the `world`, `auth`, `digest` and `ip` schemes, with ZooKeeper 3.8's rules for
//! fixing up a requested ACL (`PrepRequestProcessor.fixupACL`) and checking a permission
//! (`ZooKeeperServer.checkACL`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::error::ErrorCode;
use crate::tree::{spread, string_hash_code};

/// Permission to read a node's data and list its children.
pub const PERM_READ: i32 = 1;
/// Permission to set a node's data.
pub const PERM_WRITE: i32 = 2;
/// Permission to create children.
pub const PERM_CREATE: i32 = 4;
/// Permission to delete children.
pub const PERM_DELETE: i32 = 8;
/// Permission to set the ACL.
pub const PERM_ADMIN: i32 = 16;
/// Every permission.
pub const PERM_ALL: i32 = 31;

/// An authenticated identity or an ACL's identity expression: `scheme:id`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id {
    /// The scheme (`world`, `auth`, `digest`, `ip`).
    pub scheme: String,
    /// The identity within the scheme.
    pub id: String,
}

impl Id {
    /// `scheme:id`.
    pub fn new(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }
}

/// One ACL entry: permission bits for an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acl {
    /// The permission bits (`PERM_*`).
    pub perms: i32,
    /// The scheme.
    pub scheme: String,
    /// The identity expression within the scheme.
    pub id: String,
}

impl Acl {
    /// An entry giving `perms` to `scheme:id`.
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`: world:anyone with every permission.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(PERM_ALL, "world", "anyone")]
    }

    /// `ZooDefs.Ids.READ_ACL_UNSAFE`: world:anyone may read.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(PERM_READ, "world", "anyone")]
    }

    fn is_world_anyone(&self) -> bool {
        self.scheme == "world" && self.id == "anyone"
    }
}

/// `Id.hashCode()` as jute generates it.
fn id_hash_code(id: &Id) -> i32 {
    let mut result: i32 = 17;
    result = result
        .wrapping_mul(37)
        .wrapping_add(string_hash_code(&id.scheme));
    result
        .wrapping_mul(37)
        .wrapping_add(string_hash_code(&id.id))
}

/// A connection's identities. ZooKeeper keeps them in a set backed by a
/// `ConcurrentHashMap`, so an identity counts once and they are listed (for example when
/// an `auth` ACL expands) in that map's iteration order, which this reproduces: by hash
/// bucket, then by insertion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    entries: Vec<(Id, u64)>,
    next_seq: u64,
    table_len: usize,
    ordered: Vec<Id>,
}

impl AuthInfo {
    /// A connection from `client_ip`: every connection starts with its `ip` identity.
    pub fn new(client_ip: &str) -> AuthInfo {
        let mut info = AuthInfo {
            entries: Vec::new(),
            next_seq: 0,
            table_len: 16,
            ordered: Vec::new(),
        };
        info.add(Id::new("ip", client_ip));
        info
    }

    /// Add an identity; false if the connection already had it.
    pub fn add(&mut self, id: Id) -> bool {
        if self.entries.iter().any(|(e, _)| *e == id) {
            return false;
        }
        self.next_seq += 1;
        self.entries.push((id, self.next_seq));
        // ConcurrentHashMap grows once its size reaches three quarters of the table.
        while self.entries.len() >= self.table_len - self.table_len / 4 {
            self.table_len *= 2;
        }
        let mask = self.table_len - 1;
        let mut keyed: Vec<(usize, u64, &Id)> = self
            .entries
            .iter()
            .map(|(id, seq)| {
                (
                    (spread(id_hash_code(id)) & 0x7fff_ffff) as usize & mask,
                    *seq,
                    id,
                )
            })
            .collect();
        keyed.sort();
        self.ordered = keyed.into_iter().map(|(_, _, id)| id.clone()).collect();
        true
    }

    pub fn ids(&self) -> &[Id] {
        &self.ordered
    }
}

/// The authentication schemes a default ZooKeeper 3.8 server registers (`ProviderRegistry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    Ip,
    Digest,
}

impl Provider {
    fn for_scheme(scheme: &str) -> Option<Provider> {
        match scheme {
            "ip" => Some(Provider::Ip),
            "digest" => Some(Provider::Digest),
            _ => None,
        }
    }

    /// `AuthenticationProvider.isAuthenticated`: whether an identity of this scheme may
    /// stand in for the `auth` scheme of an ACL.
    fn is_authenticated(self) -> bool {
        self == Provider::Digest
    }

    fn is_valid(self, id: &str) -> bool {
        match self {
            Provider::Digest => java_split(id, ':', 0).len() == 2,
            Provider::Ip => ip_acl_expr(id).is_some(),
        }
    }

    fn matches(self, auth_id: &str, acl_expr: &str) -> bool {
        match self {
            Provider::Digest => auth_id == acl_expr,
            Provider::Ip => ip_matches(auth_id, acl_expr),
        }
    }
}

/// `PrepRequestProcessor.fixupACL`: remove duplicates, expand the `auth` scheme into the
/// session's authenticated identities, and refuse anything a provider does not accept.
pub fn fixup_acl(acls: &[Acl], auth_info: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acls.len());
    for acl in acls {
        if !unique.contains(&acl) {
            unique.push(acl);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for acl in unique {
        if acl.is_world_anyone() {
            fixed.push(acl.clone());
        } else if acl.scheme == "auth" {
            // Every authenticated identity of the session gets the entry's permissions,
            // duplicates included; with none the ACL is invalid.
            let before = fixed.len();
            for cid in auth_info {
                if Provider::for_scheme(&cid.scheme).is_some_and(Provider::is_authenticated) {
                    fixed.push(Acl {
                        perms: acl.perms,
                        scheme: cid.scheme.clone(),
                        id: cid.id.clone(),
                    });
                }
            }
            if fixed.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            match Provider::for_scheme(&acl.scheme) {
                Some(p) if p.is_valid(&acl.id) => fixed.push(acl.clone()),
                _ => return Err(ErrorCode::InvalidAcl),
            }
        }
    }
    Ok(fixed)
}

/// `ZooKeeperServer.checkACL`: may a session with `auth_info` do `perm` on a node with `acl`?
/// An empty ACL allows everything; a `super` identity allows everything.
pub fn check_acl(acl: &[Acl], perm: i32, auth_info: &[Id]) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth_info.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for entry in acl.iter().filter(|a| a.perms & perm != 0) {
        if entry.is_world_anyone() {
            return Ok(());
        }
        if let Some(provider) = Provider::for_scheme(&entry.scheme) {
            let granted = auth_info
                .iter()
                .any(|a| a.scheme == entry.scheme && provider.matches(&a.id, &entry.id));
            if granted {
                return Ok(());
            }
        }
    }
    Err(ErrorCode::NoAuth)
}

/// The identity an `addauth` packet yields, or `None` for `AUTHFAILED` (an unknown scheme).
/// `client_ip` is the connection's address, which the `ip` scheme authenticates.
pub fn authenticate(scheme: &str, auth: &[u8], client_ip: &str) -> Option<Id> {
    match Provider::for_scheme(scheme)? {
        Provider::Digest => Some(Id::new(
            "digest",
            &digest_id(&String::from_utf8_lossy(auth)),
        )),
        Provider::Ip => Some(Id::new("ip", client_ip)),
    }
}

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn digest_id(user_password: &str) -> String {
    let user = java_split(user_password, ':', 2)
        .into_iter()
        .next()
        .unwrap_or_default();
    let sha = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(sha)
    )
}

/// `getACL` without ADMIN permission hides digest hashes: `user:hash` becomes `user:x`
/// (ZooKeeper's `replaceAll(":.*", ":x")`, applied to the first colon).
pub fn redact_digest(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.scheme != "digest" {
                return a.clone();
            }
            let id = match a.id.find(':') {
                Some(at) => format!("{}:x", &a.id[..at]),
                None => a.id.clone(),
            };
            Acl {
                perms: a.perms,
                scheme: a.scheme.clone(),
                id,
            }
        })
        .collect()
}

/// Java's `String.split(sep, limit)` for a one-character separator: with `limit == 0`
/// trailing empty strings are dropped; with `limit > 0` there are at most `limit` parts.
pub(crate) fn java_split(s: &str, sep: char, limit: usize) -> Vec<String> {
    let mut parts: Vec<String> = if limit > 0 {
        s.splitn(limit, sep).map(str::to_string).collect()
    } else {
        s.split(sep).map(str::to_string).collect()
    };
    if limit == 0 && s.contains(sep) {
        while parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
    }
    parts
}

/// Java's `Integer.parseInt`: optional sign, decimal digits, 32-bit range.
fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

/// `IPAuthenticationProvider.v4addr2Bytes`: four decimal parts in 0..=255.
fn ipv4_bytes(addr: &str) -> Option<[u8; 4]> {
    let parts = java_split(addr, '.', usize::MAX);
    if parts.len() != 4 {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (b, part) in bytes.iter_mut().zip(&parts) {
        *b = u8::try_from(java_parse_int(part)?).ok()?;
    }
    Some(bytes)
}

/// An `ip` ACL expression `a.b.c.d[/bits]`: the address and the prefix length.
fn ip_acl_expr(expr: &str) -> Option<([u8; 4], u32)> {
    let parts = java_split(expr, '/', 2);
    let addr = ipv4_bytes(&parts[0])?;
    let bits = match parts.get(1) {
        Some(b) => u32::try_from(java_parse_int(b)?)
            .ok()
            .filter(|b| *b <= 32)?,
        None => 32,
    };
    Some((addr, bits))
}

fn ip_matches(client: &str, expr: &str) -> bool {
    let (Some((acl_addr, bits)), Some(remote)) = (ip_acl_expr(expr), ipv4_bytes(client)) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from_be_bytes(acl_addr) & mask == u32::from_be_bytes(remote) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(user_password: &str) -> Id {
        Id::new("digest", &digest_id(user_password))
    }

    #[test]
    fn digest_matches_zookeeper_generate_digest() {
        // Known value: DigestAuthenticationProvider.generateDigest("super:test").
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        // Without a colon the whole string is the user name and is hashed as is.
        assert!(digest_id("alice").starts_with("alice:"));
    }

    #[test]
    fn fixup_expands_auth_and_refuses_invalid_entries() {
        // The auth scheme becomes every authenticated (digest) identity; ip does not count.
        let auth = vec![Id::new("ip", "127.0.0.1"), digest("u:p")];
        let fixed = fixup_acl(&[Acl::new(PERM_ALL, "auth", "")], &auth).expect("has digest auth");
        assert_eq!(fixed, vec![Acl::new(PERM_ALL, "digest", &digest_id("u:p"))]);
        let only_ip = vec![Id::new("ip", "127.0.0.1")];
        assert_eq!(
            fixup_acl(&[Acl::new(1, "auth", "")], &only_ip),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup_acl(&[], &auth), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup_acl(&[Acl::new(1, "world", "x")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[Acl::new(1, "sasl", "x")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[Acl::new(1, "digest", "nocolon")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[Acl::new(1, "digest", "a:b:c")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[Acl::new(1, "ip", "10.0.0.256")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[Acl::new(1, "ip", "10.0.0.1/33")], &auth),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fixup_acl(&[Acl::new(1, "ip", "10.0.0.1/8")], &auth).is_ok());
        // Duplicates in the request collapse.
        let twice = [
            Acl::new(31, "world", "anyone"),
            Acl::new(31, "world", "anyone"),
        ];
        assert_eq!(fixup_acl(&twice, &auth).map(|a| a.len()), Ok(1));
    }

    #[test]
    fn check_acl_grants_by_scheme_and_permission() {
        // A digest entry admits only its identity, and only for its permission bits.
        let acl = vec![Acl::new(PERM_READ, "digest", &digest_id("u:p"))];
        assert_eq!(check_acl(&acl, PERM_READ, &[digest("u:p")]), Ok(()));
        assert_eq!(
            check_acl(&acl, PERM_WRITE, &[digest("u:p")]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check_acl(&acl, PERM_READ, &[digest("u:q")]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(check_acl(&[], PERM_WRITE, &[]), Ok(()));
        let net = vec![Acl::new(PERM_ALL, "ip", "127.0.0.0/8")];
        assert_eq!(
            check_acl(&net, PERM_READ, &[Id::new("ip", "127.1.2.3")]),
            Ok(())
        );
        assert_eq!(
            check_acl(&net, PERM_READ, &[Id::new("ip", "10.1.2.3")]),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn redaction_hides_digest_hashes() {
        let acl = vec![
            Acl::new(1, "digest", "u:abc:def"),
            Acl::new(1, "world", "anyone"),
        ];
        assert_eq!(
            redact_digest(&acl),
            vec![Acl::new(1, "digest", "u:x"), Acl::new(1, "world", "anyone")]
        );
    }

    #[test]
    fn java_split_drops_trailing_empties_only_without_limit() {
        assert_eq!(java_split("a:", ':', 0), vec!["a"]);
        assert_eq!(java_split(":b", ':', 0), vec!["", "b"]);
        assert!(java_split("::", ':', 0).is_empty());
        assert_eq!(java_split("", ':', 0), vec![""]);
        assert_eq!(java_split("a:b:c", ':', 2), vec!["a", "b:c"]);
    }
}
