// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the text handling: escaping, line assembly and the rate limit's arithmetic.
//!
//! Run by `make test` (`uml_debug_kunit`): `l4log.ko` built with them (`scripts/module`,
//! `L4LOG_KUNIT=1`) runs them when it loads on UML's debug kernel.

#[kernel::macros::kunit_tests(l4log_text)]
mod kunit {
    use crate::escape::{self, Escaper, Filled};
    use crate::lines::{LineBuffer, Ready, LINE_MAX};
    use crate::stamp::Stamp;
    use crate::throttle::Bucket;
    use kernel::prelude::*;

    const SECOND: i64 = 1_000_000_000;

    /// `input` as the host sees it with escaping on.
    fn escaped(input: &[u8]) -> KVec<u8> {
        let mut out = KVec::new();
        let mut escaper = Escaper::new(input, 0);
        let mut chunk = [0; 16];
        while !escaper.is_done() {
            let Filled { written, .. } = escaper.fill(&mut chunk);
            out.extend_from_slice(&chunk[..written], GFP_KERNEL)
                .unwrap();
        }
        out
    }

    fn ready(len: usize, lines: usize, plain: usize) -> Ready {
        Ready { len, lines, plain }
    }

    fn filled(taken: usize, written: usize) -> Filled {
        Filled { taken, written }
    }

    fn line_buffer(content: &[u8]) -> LineBuffer {
        let mut line = LineBuffer::with_room(LINE_MAX).unwrap();
        line.spare()[..content.len()].copy_from_slice(content);
        line.commit(content.len(), true, None);
        line
    }

    #[test]
    fn text_passes_unchanged() {
        let text = "tab\there, caf\u{e9}, \u{20ac}5, \u{1f600}\n".as_bytes();
        assert_eq!(&escaped(text)[..], text);
    }

    #[test]
    fn c0_controls_and_del_are_escaped() {
        assert_eq!(
            &escaped(b"\x1b[2J\x1b]0;title\x07\r\0\x7f.")[..],
            &b"\\x1b[2J\\x1b]0;title\\x07\\x0d\\x00\\x7f."[..]
        );
    }

    #[test]
    fn c1_controls_are_escaped_in_both_forms() {
        // U+009B (CSI) as UTF-8, and the raw 8-bit byte, which is not valid UTF-8.
        assert_eq!(&escaped(b"a\xc2\x9bb\x9bc")[..], &b"a\\xc2\\x9bb\\x9bc"[..]);
        // U+00A0 follows the C1 range and is text.
        assert_eq!(&escaped("\u{a0}".as_bytes())[..], "\u{a0}".as_bytes());
    }

    #[test]
    fn a_backslash_is_escaped_so_that_the_output_decodes_back() {
        assert_eq!(&escaped(b"\\")[..], &b"\\x5c"[..]);
        // Written literally, the four characters of an escaped ESC stay apart from one.
        assert_eq!(&escaped(b"\\x1b")[..], &b"\\x5cx1b"[..]);
        assert_eq!(&escaped(b"\x1b")[..], &b"\\x1b"[..]);
        // In text that is not all ASCII too, and next to other bytes to escape.
        assert_eq!(
            &escaped("caf\u{e9} C:\\tmp\\\\\u{1b}".as_bytes())[..],
            "caf\u{e9} C:\\x5ctmp\\x5c\\x5c\\x1b".as_bytes()
        );
    }

    #[test]
    fn invalid_utf8_is_escaped_byte_by_byte() {
        // An overlong encoding, a surrogate, a lone continuation byte, an unfinished
        // character at the end.
        assert_eq!(
            &escaped(b"\xc0\xafx\xed\xa0\x80y\x80z\xe2\x82")[..],
            &b"\\xc0\\xafx\\xed\\xa0\\x80y\\x80z\\xe2\\x82"[..]
        );
    }

    #[test]
    fn a_fill_for_a_host_line_cuts_no_character() {
        // "ab\u{26c4}\x01": the snowman's 3 bytes do not fit in 4 after "ab". A fill for the
        // next host call may cut it; a fill that ends a host line does not, and goes on with
        // the whole character (and the escaped byte) in the next.
        let text = "ab\u{26c4}\x01".as_bytes();
        let mut out = [0u8; 16];
        let mut cut = Escaper::new(text, 0);
        assert_eq!(cut.fill(&mut out[..4]), filled(4, 4));
        let mut whole = Escaper::new(text, 0);
        assert_eq!(whole.fill_whole(&mut out[..4]), filled(2, 2));
        assert_eq!(&out[..2], b"ab");
        assert_eq!(whole.fill_whole(&mut out[..1]), filled(0, 0));
        assert_eq!(whole.fill_whole(&mut out[..]), filled(4, 7));
        assert_eq!(&out[..7], "\u{26c4}\\x01".as_bytes());
    }

    #[test]
    fn unfinished_characters_are_found_at_the_end() {
        assert_eq!(escape::unfinished_char_len(b""), 0);
        assert_eq!(escape::unfinished_char_len(b"abc"), 0);
        assert_eq!(escape::unfinished_char_len("\u{e9}".as_bytes()), 0);
        assert_eq!(escape::unfinished_char_len(b"a\xc3"), 1);
        assert_eq!(escape::unfinished_char_len(b"a\xe2\x82"), 2);
        assert_eq!(escape::unfinished_char_len(b"a\xf0\x9f\x98"), 3);
        // Not the start of any character: nothing to wait for.
        assert_eq!(escape::unfinished_char_len(b"a\xff"), 0);
        assert_eq!(escape::unfinished_char_len(b"a\x80"), 0);
    }

    #[test]
    fn complete_lines_are_ready_and_the_rest_waits() {
        assert_eq!(line_buffer(b"").ready(true), ready(0, 0, 0));
        assert_eq!(line_buffer(b"no end yet").ready(true).len, 0);
        let mut line = line_buffer(b"one\ntwo\nthr");
        assert_eq!(line.ready(true), ready(8, 2, 8));
        line.consume(8);
        assert_eq!(line.held(), b"thr");
        assert_eq!(line.all().lines, 0);
        line.truncate(1);
        assert_eq!(line.held(), b"t");
    }

    #[test]
    fn lines_are_counted_as_bytes_arrive_and_after_a_failed_send() {
        let mut line = line_buffer(b"a\nb");
        line.spare()[..4].copy_from_slice(b"\nc\nd");
        line.commit(4, true, None);
        assert_eq!(line.ready(false), ready(6, 3, 6));
        // A send that got only "a\n" through: "b\nc\n" and "d" stay, two lines of them.
        line.consume(2);
        assert_eq!(line.ready(false), ready(4, 2, 4));
        line.truncate(2);
        assert_eq!(line.ready(false), ready(2, 1, 2));
        line.truncate(1);
        assert_eq!(line.ready(false), ready(0, 0, 0));
    }

    #[test]
    fn plain_text_is_found_in_the_same_pass_while_escaping_is_on() {
        // Up to the first byte that is not printable ASCII but the backslash, or newline (a
        // tab is left to the escaper).
        assert_eq!(line_buffer(b"ok go\x1bno\n").ready(true), ready(9, 1, 5));
        assert_eq!(line_buffer(b"ok\tgo\n").ready(true), ready(6, 1, 2));
        assert_eq!(line_buffer(b"ok\\go\n").ready(true), ready(6, 1, 2));
        assert_eq!(
            line_buffer(b"a long line \\ here\n").ready(true),
            ready(19, 1, 12)
        );
        assert_eq!(
            line_buffer("caf\u{e9}\n".as_bytes()).ready(true),
            ready(6, 1, 3)
        );
        // Not looked for with escaping off, nor after text that was not looked at.
        let mut line = LineBuffer::with_room(LINE_MAX).unwrap();
        line.spare()[..3].copy_from_slice(b"ab\n");
        line.commit(3, false, None);
        line.spare()[..3].copy_from_slice(b"cd\n");
        line.commit(3, true, None);
        assert_eq!(line.ready(true), ready(6, 2, 0));
    }

    #[test]
    fn a_failed_send_gives_back_the_writes_own_unsent_bytes() {
        // "xx" held for earlier writes, "BB" by this write's earlier steps, "CCC\n" copied now;
        // the host got the first `consumed` bytes. Returns given back, taken, returned.
        let settle = |consumed, still_held: &[u8]| {
            let mut line = line_buffer(b"xxBBCCC\n");
            let settled = line.settle_failed_send(4, 2, consumed);
            assert_eq!(line.held(), still_held);
            (settled.given_back, settled.taken, settled.returned())
        };
        assert_eq!(settle(1, b"x"), (2, 0, 6));
        assert_eq!(settle(3, b""), (1, 0, 5));
        assert_eq!(settle(6, b""), (0, 2, 2));
        assert_eq!(settle(8, b""), (0, 4, 0));
    }

    fn stamped(content: &[u8], stamp: &Stamp) -> LineBuffer {
        let mut line = LineBuffer::with_room(LINE_MAX).unwrap();
        line.spare()[..content.len()].copy_from_slice(content);
        line.commit(content.len(), true, Some(stamp));
        line
    }

    /// The (tgid of the) head stamp, whether the head line reached the host, and the later
    /// stamp's tgid; `now`'s tgid stands for "none held".
    fn stamps(line: &LineBuffer) -> (i32, bool, i32) {
        let (head, sent, later) = line.stamp().head(&Stamp::of(b"now", 99, 0));
        (head.tgid(), sent, later.tgid())
    }

    #[test]
    fn a_stamp_goes_with_the_bytes_it_stamps() {
        let a = Stamp::of(b"a", 1, 10);
        let b = Stamp::of(b"b", 2, 20);
        // A failed send that took nothing drops the write's bytes, and their stamp.
        let mut line = stamped(b"a\n", &a);
        line.settle_failed_send(0, 0, 0);
        assert!(line.is_empty());
        assert_eq!(stamps(&line), (99, false, 99));
        // A send that stopped right after a newline leaves no line under way.
        let mut line = stamped(b"one\ntwo\n", &a);
        line.settle_failed_send(0, 0, 4);
        assert_eq!(stamps(&line), (99, false, 99));
        // One that stopped in a line: the line is under way, with its stamp.
        let mut line = stamped(b"one two", &a);
        line.consume(3);
        assert_eq!(stamps(&line), (1, true, 1));
        line.truncate(0);
        assert_eq!(stamps(&line), (99, false, 99));
        // Held lines after a sent one begin with the stamp of their bytes.
        let mut line = stamped(b"x\n", &a);
        line.spare()[0] = b'y';
        line.commit(1, true, Some(&b));
        assert_eq!(stamps(&line), (1, false, 2));
        line.consume(2);
        assert_eq!(stamps(&line), (2, false, 2));
        line.consume(1);
        assert_eq!(stamps(&line), (2, true, 2));
        // A send that got past a newline into the next line: that line is under way, with the
        // stamp of its bytes, not the first line's.
        let mut line = stamped(b"abc\n", &a);
        line.spare()[..4].copy_from_slice(b"y\nzz");
        line.commit(4, true, Some(&b));
        line.consume(5);
        assert_eq!(stamps(&line), (2, true, 2));
    }

    #[test]
    fn another_writers_line_is_ended_before_a_write_takes_bytes() {
        let a = Stamp::of(b"a", 1, 10);
        let b = Stamp::of(b"b", 2, 20);
        // The same thread group goes on with its line.
        let mut line = stamped(b"x", &a);
        assert!(!line.end_line_of_other(&Stamp::of(b"renamed", 1, 30)));
        assert_eq!(line.held(), b"x");
        // A later thread group that got the same id is another writer.
        let mut reused = stamped(b"x", &a);
        assert!(reused.end_line_of_other(&Stamp::of(b"a", 1, 40).started_at(5)));
        assert_eq!(reused.held(), b"x\n");
        // Another's unfinished held line gets a newline, to be sent first.
        assert!(line.end_line_of_other(&b));
        assert_eq!(line.held(), b"x\n");
        assert_eq!(line.ready(true), ready(2, 1, 2));
        // Complete held lines need none.
        assert!(!line.end_line_of_other(&b));
        // A line under way only on the host is forgotten: the next send ends its host line.
        let mut line = stamped(b"xy", &a);
        line.consume(2);
        assert_eq!(stamps(&line), (1, true, 1));
        assert!(!line.end_line_of_other(&b));
        assert_eq!(stamps(&line), (99, false, 99));
        assert!(line.is_empty());
    }

    #[test]
    fn a_full_buffer_without_newline_goes_whole() {
        let mut line = line_buffer(&[b'x'; LINE_MAX]);
        assert_eq!(line.ready(true), ready(LINE_MAX, 0, LINE_MAX));
        assert!(line.spare().is_empty());
        // With escaping, an unfinished character at the end waits for the next piece.
        let mut content = [b'x'; LINE_MAX];
        content[LINE_MAX - 2..].copy_from_slice(b"\xe2\x82");
        let line = line_buffer(&content);
        assert_eq!(line.ready(true).len, LINE_MAX - 2);
        assert_eq!(line.ready(false).len, LINE_MAX);
    }

    #[test]
    fn the_bucket_earns_at_the_rate_up_to_one_second() {
        let mut bucket = Bucket::new(0);
        bucket.refill(SECOND / 2, 1000);
        assert_eq!(bucket.take(10_000), 500);
        assert_eq!(bucket.take(1), 0);
        // Ten idle seconds earn one second's worth, no more.
        bucket.refill(SECOND / 2 + 10 * SECOND, 1000);
        assert_eq!(bucket.take(10_000), 1000);
    }

    #[test]
    fn the_bucket_keeps_fractions_and_takes_refunds() {
        let mut bucket = Bucket::new(0);
        // 3 bytes/s: 0.25 s earns 0.75 bytes, twice 1.5 bytes.
        bucket.refill(SECOND / 4, 3);
        assert_eq!(bucket.take(5), 0);
        bucket.refill(SECOND / 2, 3);
        assert_eq!(bucket.take(5), 1);
        // Bytes taken or charged but not used come back, up to one second's worth.
        bucket.refund(100, 3);
        assert_eq!(bucket.take(100), 3);
    }

    #[test]
    fn bytes_sent_beyond_the_credit_are_owed_and_paid_first() {
        let mut bucket = Bucket::new(0);
        bucket.refill(SECOND, 1000);
        // 400 bytes went to the host: from the credit.
        bucket.charge(400);
        assert_eq!(bucket.take(100), 100);
        // 750 more than is left: owed, and nothing is to be had until it is paid.
        bucket.charge(1250);
        assert_eq!(bucket.wait_for(1, 1000), 751_000_000);
        bucket.refill(SECOND + SECOND / 2, 1000);
        assert_eq!(bucket.take(1), 0);
        bucket.refill(2 * SECOND, 1000);
        assert_eq!(bucket.take(1000), 250);
        // A refund pays what is owed first.
        bucket.charge(10);
        bucket.refund(15, 1000);
        assert_eq!(bucket.take(1000), 5);
    }

    #[test]
    fn a_limit_switched_off_and_on_starts_full_and_owing_nothing() {
        let mut bucket = Bucket::new(0);
        bucket.refill(SECOND / 10, 1000);
        bucket.charge(5000);
        assert!(bucket.owes());
        // The same stretch of limit: nothing changes.
        bucket.restart(0, SECOND, 1000);
        assert!(bucket.owes());
        bucket.restart(1, SECOND, 1000);
        assert!(!bucket.owes());
        assert_eq!(bucket.take(10_000), 1000);
    }

    #[test]
    fn a_debt_is_owed_until_the_rate_has_paid_it() {
        let mut bucket = Bucket::new(0);
        bucket.refill(SECOND / 10, 1000);
        assert!(!bucket.owes());
        // 100 bytes of credit; a host call adds 350: 250 are owed, 0.25 s at 1000 B/s.
        bucket.charge(350);
        assert!(bucket.owes());
        assert_eq!(bucket.wait_for_debt(1000), 250_000_000);
        bucket.refill(SECOND / 10 + SECOND / 5, 1000);
        assert!(bucket.owes());
        assert_eq!(bucket.wait_for_debt(1000), 50_000_000);
        bucket.refill(SECOND / 10 + SECOND / 4, 1000);
        assert!(!bucket.owes());
    }

    #[test]
    fn the_wait_is_for_what_is_missing() {
        let mut bucket = Bucket::new(0);
        assert_eq!(bucket.wait_for(10, 100), 100_000_000);
        // At most one second's worth is waited for, and at least one byte.
        assert_eq!(bucket.wait_for(1_000_000, 100), 1_000_000_000);
        assert_eq!(bucket.wait_for(0, 100), 10_000_000);
        bucket.refill(SECOND / 20, 100);
        assert_eq!(bucket.wait_for(10, 100), 50_000_000);
    }
}

/// KUnit tests of the turn a write or a send holds, without a second thread: what a caller
/// that may not wait, or only until a deadline, gets while the turn is held.
#[kernel::macros::kunit_tests(l4log_turn)]
mod turn_kunit {
    use crate::throttle::Throttle;
    use crate::turn::{turn_class, Turn};
    use crate::waiting::Waiting;
    use kernel::{
        prelude::*,
        time::{Delta, Instant, Monotonic},
    };

    fn new_turn() -> Pin<KBox<Turn<u32>>> {
        KBox::pin_init(Turn::new(7, turn_class!("l4log_test_turn")), GFP_KERNEL).unwrap()
    }

    fn expired() -> Waiting {
        Waiting::Until(Instant::now() - Delta::from_millis(1))
    }

    #[test]
    fn a_free_turn_is_taken_at_once_by_anyone() {
        let turn = new_turn();
        for waiting in [Waiting::Allowed, Waiting::NotAllowed, expired()] {
            let mut guard = turn.take(waiting).unwrap();
            *guard += 1;
        }
        assert_eq!(*turn.take(Waiting::NotAllowed).unwrap(), 10);
    }

    #[test]
    fn a_stalled_holder_sends_non_blocking_callers_away() {
        let turn = new_turn();
        let guard = turn.take(Waiting::Allowed).unwrap();
        turn.mark_stalled();
        assert_eq!(turn.take(Waiting::NotAllowed).err(), Some(EAGAIN));
        assert_eq!(turn.take(expired()).err(), Some(ETIMEDOUT));
        drop(guard);
        // Given back, the turn is free and no longer stalled.
        let again = turn.take(Waiting::NotAllowed).unwrap();
        assert_eq!(*again, 7);
    }

    #[test]
    fn a_close_waits_no_longer_than_its_deadline_for_a_holder_that_never_stalls() {
        let turn = new_turn();
        let guard = turn.take(Waiting::Allowed).unwrap();
        // The holder never says it waits for the host (an L4 IPC, a port write that blocks).
        assert_eq!(turn.take(expired()).err(), Some(ETIMEDOUT));
        let started = Instant::<kernel::time::Monotonic>::now();
        let soon = Waiting::Until(started + Delta::from_millis(20));
        assert_eq!(turn.take(soon).err(), Some(ETIMEDOUT));
        let waited = started.elapsed().as_millis();
        assert!((20..1000).contains(&waited));
        drop(guard);
        assert!(turn.take(Waiting::NotAllowed).is_ok());
    }

    /// A host call's toll: a call goes while nothing is owed, and what it puts on the host
    /// beyond the credit is owed; the next one waits for that debt, as its writer may, but a
    /// close's.
    #[test]
    fn a_host_call_waits_for_the_debt_of_the_one_before() {
        let turn = new_turn();
        let throttle = KBox::pin_init(Throttle::new(Some(1000)), GFP_KERNEL).unwrap();
        let send = turn.take(Waiting::Allowed).unwrap();
        // Nothing owed: the call goes, and its 4000 bytes are owed (4 s at 1000 B/s).
        assert_eq!(throttle.pay(4000, Waiting::NotAllowed, &turn), Ok(4000));
        // No bytes: nothing to pay.
        assert_eq!(throttle.pay(0, Waiting::NotAllowed, &turn), Ok(0));
        assert_eq!(
            throttle.pay(1, Waiting::NotAllowed, &turn).err(),
            Some(EAGAIN)
        );
        // A close waits until its deadline at most, then sends, and owes.
        let started = Instant::<Monotonic>::now();
        let soon = Waiting::Until(started + Delta::from_millis(20));
        assert_eq!(throttle.pay(1, soon, &turn), Ok(1));
        assert!(started.elapsed().as_nanos() >= 15_000_000);
        assert_eq!(throttle.pay(1, expired(), &turn), Ok(1));
        // A call that reached nothing is refunded: its bytes are no longer owed.
        throttle.refund(4002);
        drop(send);
        assert_eq!(throttle.pay(1, Waiting::NotAllowed, &turn), Ok(1));
        // The writers' bucket is another: what the host's owes keeps no writer from taking
        // what the rate earned meanwhile.
        kernel::time::delay::fsleep(Delta::from_millis(20));
        assert_eq!(throttle.pay(5000, Waiting::NotAllowed, &turn), Ok(5000));
        assert_eq!(throttle.acquire(1, Waiting::NotAllowed), Ok(1));
        assert_eq!(
            throttle.pay(1, Waiting::NotAllowed, &turn).err(),
            Some(EAGAIN)
        );
    }

    #[test]
    fn stalling_a_free_turn_does_nothing() {
        let turn = new_turn();
        turn.mark_stalled();
        assert!(turn.take(Waiting::NotAllowed).is_ok());
    }
}

/// KUnit tests of the `channels` parameter's syntax: what is accepted, and that each kind of
/// bad input is refused.
#[kernel::macros::kunit_tests(l4log_channels)]
mod channels_kunit {
    use crate::channels::{parse, ChannelSpec};
    use crate::l4bridge::Address;
    use kernel::prelude::*;

    fn one(text: &str) -> ChannelSpec<'_> {
        let mut channels = parse(text).unwrap();
        assert_eq!(channels.len(), 1);
        channels.pop().unwrap()
    }

    #[test]
    fn nothing_names_no_channel() {
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn addresses_are_numbers_or_names_and_default_to_the_name() {
        let channels = parse("app=0xea,audit=7,cap=logcap,log").unwrap();
        let expected = [
            ("app", Address::Number(0xea)),
            ("audit", Address::Number(7)),
            ("cap", Address::Name("logcap")),
            ("log", Address::Name("log")),
        ];
        assert_eq!(channels.len(), expected.len());
        for (channel, (name, address)) in channels.iter().zip(expected) {
            assert_eq!(channel.name, name);
            assert_eq!(channel.address, address);
        }
    }

    #[test]
    fn keys_set_the_channels_own_values() {
        let channel = one("app=3:mode=0620:group=100:escape=n:rate_limit=4096");
        assert_eq!(channel.mode, Some(0o620));
        assert_eq!(channel.group, Some(100));
        assert_eq!(channel.escape, Some(false));
        assert_eq!(channel.rate_limit, Some(4096));
        let plain = one("app=3");
        assert_eq!(
            (plain.mode, plain.group, plain.escape, plain.rate_limit),
            (None, None, None, None)
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for text in [
            "=3",
            "a/b=3",
            "a b=3",
            "..=3",
            "seventeen-chars-x=3",
            "app=3,",
            ",app=3",
            "app=3,,audit=4",
        ] {
            assert_eq!(parse(text).err(), Some(EINVAL));
        }
        assert!(parse("sixteen-chars-xx=3").is_ok());
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        assert_eq!(parse("app=3,app=4").err(), Some(EINVAL));
        assert_eq!(parse("app,app=5").err(), Some(EINVAL));
    }

    /// An address given twice, in any spelling, is a clash the load finds once the addresses
    /// are resolved (`device.rs`), with `/dev/l4log`'s too.
    #[test]
    fn addresses_that_name_one_stream_resolve_equal() {
        use crate::l4bridge::{Address, HostLog};
        assert!(parse("app=3,audit=3").is_ok());
        let resolved = |address| HostLog::resolve(address).ok();
        // Written in hex and in decimal, one descriptor.
        assert_eq!(
            resolved(one("app=0x3").address),
            resolved(one("app=3").address)
        );
        assert_ne!(resolved(Address::Number(3)), resolved(Address::Number(4)));
        // UML's default channel is its standard error, descriptor 2.
        assert_eq!(resolved(Address::Default), resolved(Address::Number(2)));
        assert!(resolved(Address::Default).is_some());
    }

    #[test]
    fn bad_addresses_and_keys_are_refused() {
        for text in [
            "app=",
            "app=3x",
            "app=0x",
            "app=0xg",
            "app=99999999999999999999",
            "app=3:mode=0680",
            "app=3:mode=",
            "app=3:group=-1",
            "app=3:group=4294967296",
            "app=3:escape=yes",
            "app=3:rate_limit=1k",
            "app=3:colour=green",
            "app=3:mode",
            "app=3:mode=0600:mode=0600",
        ] {
            assert_eq!(parse(text).err(), Some(EINVAL));
        }
    }
}

/// KUnit tests of the stamps' text.
#[kernel::macros::kunit_tests(l4log_stamp)]
mod stamp_kunit {
    use crate::stamp::{Stamp, StampKind, STAMP_MAX};

    fn written(stamp: &Stamp, kind: StampKind) -> ([u8; STAMP_MAX], usize) {
        let mut out = [0; STAMP_MAX];
        let len = stamp.write(kind, &mut out);
        (out, len)
    }

    #[test]
    fn kinds_parse_and_nothing_else() {
        let both = StampKind {
            time: true,
            task: true,
        };
        assert_eq!(StampKind::parse("none"), Some(StampKind::default()));
        assert_eq!(StampKind::parse("task+time"), Some(both));
        assert_eq!(StampKind::parse("time+task"), Some(both));
        assert_eq!(StampKind::parse("time").map(|kind| kind.task), Some(false));
        for bad in ["", "task+", "task+task", "pid", "none+task", "TASK"] {
            assert_eq!(StampKind::parse(bad), None);
        }
    }

    #[test]
    fn time_and_task_as_printk_and_syslog_show_them() {
        let stamp = Stamp::of(b"sshd", 4242, 5_140_900_123);
        let both = StampKind {
            time: true,
            task: true,
        };
        let (out, len) = written(&stamp, both);
        assert_eq!(&out[..len], b"[    5.140900] sshd[4242]: ");
        let late = Stamp::of(b"x", 1, 123_456_789_012_345_678);
        let (out, len) = written(&late, both);
        assert_eq!(&out[..len], b"[123456789.012345] x[1]: ");
    }

    #[test]
    fn a_command_name_shows_only_plain_ascii() {
        let stamp = Stamp::of(b"a\nb\\c[1]: \x1b\xff", 7, 0);
        let task = StampKind {
            time: false,
            task: true,
        };
        let (out, len) = written(&stamp, task);
        assert_eq!(&out[..len], b"a?b?c?1?: ??[7]: ");
    }

    #[test]
    fn the_longest_stamp_fits() {
        let stamp = Stamp::of(b"fifteen-chars-x", i32::MAX, u64::MAX);
        let both = StampKind {
            time: true,
            task: true,
        };
        let (_, len) = written(&stamp, both);
        assert!(len <= STAMP_MAX);
    }
}
