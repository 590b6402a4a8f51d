//! Unit tests of the session's timeouts and xids.

use super::*;

#[test]
fn ping_idle_follows_send_thread_run() {
    // SendThread.run: timeToNextPing = readTimeout/2 - idleSend - (idleSend > 1000 ? 1000 : 0),
    // and a ping at least every MAX_SEND_PING_INTERVAL (10 s).
    assert_eq!(ping_idle_ms(1000), 500);
    assert_eq!(ping_idle_ms(2000), 1000);
    assert_eq!(ping_idle_ms(3000), 1001);
    assert_eq!(ping_idle_ms(6666), 2333);
    assert_eq!(ping_idle_ms(40_000), 10_001);
    assert_eq!(ping_idle_ms(1), 1);
}

#[test]
fn timeouts_derive_from_the_session_timeout() {
    // SendThread.onConnected: readTimeout = 2/3, connectTimeout = timeout / servers.
    assert_eq!(read_timeout_ms(30_000), 20_000);
    assert_eq!(connect_timeout_ms(30_000, 3), 10_000);
    assert_eq!(connect_timeout_ms(2, 5), 1);
}

#[test]
fn xids_skip_from_max_back_to_one() {
    // ClientCnxn.getXid: "Skip from MAX to 1", never a reserved negative xid.
    let mut client = ClientSession::new(ClientConfig::new(1, 0, 3000));
    client.next_xid = i32::MAX - 1;
    assert_eq!(client.take_xid(), i32::MAX - 1);
    assert_eq!(client.take_xid(), 1);
    assert_eq!(client.take_xid(), 2);
}
