"""The deadlines of every request are fired by one watchdog thread per process (issue 14: a
timer thread per request cost more than an authenticated no-op). It must still fire each
armed deadline, never a disarmed one, and an early deadline armed after a late one must not
wait behind it. (The end-to-end promise — a frozen database is a 503 within the deadline — is
tests/faults/test_database_faults.py.)"""

from __future__ import annotations

import logging
import threading
import time

from governance.deadline import _Watchdog, database_deadline

PATIENCE = 10  # seconds: far beyond every deadline armed here, only to bound a broken test


def test_an_armed_deadline_fires_and_a_disarmed_one_does_not():
    watchdog = _Watchdog()
    fired, spared = threading.Event(), threading.Event()
    # given two deadlines, one of them disarmed before it comes due
    watchdog.arm(0.05, fired.set)
    handle = watchdog.arm(0.05, spared.set)
    watchdog.disarm(handle)
    # when a later deadline has fired (so both earlier ones came due)
    after = threading.Event()
    watchdog.arm(0.2, after.set)
    assert after.wait(PATIENCE)
    # then only the armed one fired
    assert fired.is_set()
    assert not spared.is_set()


def test_an_early_deadline_armed_after_a_late_one_fires_first():
    watchdog = _Watchdog()
    late, early = threading.Event(), threading.Event()
    watchdog.arm(3600, late.set)
    watchdog.arm(0.05, early.set)
    assert early.wait(PATIENCE)
    assert not late.is_set()


def test_many_deadlines_share_one_thread():
    watchdog = _Watchdog()
    threads_before = threading.active_count()
    handles = [watchdog.arm(60, lambda: None) for _ in range(200)]
    for handle in handles:
        watchdog.disarm(handle)
    assert threading.active_count() <= threads_before + 1


def test_the_request_deadline_sets_its_event_when_it_passes():
    # In a thread of its own: the deadline cuts the database connections of the thread that
    # armed it, and this test's thread may hold one the next test needs.
    outcome = {}

    def request():
        with database_deadline(0.05) as expired:
            outcome["passed"] = expired.wait(PATIENCE)
        with database_deadline(60) as expired:
            pass
        time.sleep(0.01)
        outcome["spared"] = not expired.is_set()

    thread = threading.Thread(target=request)
    thread.start()
    thread.join()
    assert outcome == {"passed": True, "spared": True}


def test_a_stalled_log_sink_delays_neither_the_interrupt_nor_other_requests():
    # given a log handler on the deadline's logger that blocks until released
    release, entered = threading.Event(), threading.Event()

    class Stalled(logging.Handler):
        def emit(self, record):
            entered.set()
            release.wait(3 * PATIENCE)  # longer than any wait below

    logger = logging.getLogger("governance.deadline")
    handler = Stalled(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        outcome = {}

        def request():
            with database_deadline(0.05) as expired:
                outcome["cut"] = expired.wait(PATIENCE)

        # when a deadline passes (its warning now stuck in the handler)
        first = threading.Thread(target=request)
        first.start()
        first.join(PATIENCE)
        # then it was cut before the warning was written
        assert outcome == {"cut": True}
        assert entered.wait(PATIENCE)
        # and another request arms and disarms its deadline while the sink is still stuck
        armed = threading.Event()

        def arm_and_disarm():
            with database_deadline(3):
                pass
            armed.set()

        other = threading.Thread(target=arm_and_disarm)
        other.start()
        assert armed.wait(PATIENCE)
        assert not release.is_set()
    finally:
        release.set()
        logger.removeHandler(handler)
