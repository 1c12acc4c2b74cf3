"""PollTracker: the one set of waiting rules shared by the trigger and the worker wait."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_videodb.exceptions import (
    VideoDBAuthenticationError,
    VideoDBConfigError,
    VideoDBNotFoundError,
    VideoDBPermissionError,
    VideoDBRateLimitError,
    VideoDBResponseError,
    VideoDBServerError,
    VideoDBTransportError,
    VideoDBUnsafeURLError,
    VideoDBValidationError,
)
from airflow_provider_videodb.polling import (
    JobWait,
    PollTracker,
    WaitPolicy,
    is_permanent,
    wait_for_job,
)
from airflow_provider_videodb.responses import JobStatus

T0 = 1_000_000.0
URL = "http://127.0.0.1:1/async-response/job-1"
PROCESSING = JobStatus(state="processing", percentage=10.0)


def tracker(**kwargs) -> PollTracker:
    args = {
        "job_id": "job-1",
        "output_url": URL,
        "end_time": T0 + 100.0,
        "poll_interval": 5.0,
        "started_at": T0,
    }
    args.update(kwargs)
    log_every = args.pop("progress_log_every", 300.0)
    return PollTracker(JobWait.from_primitives(**args), progress_log_every=log_every)


def server_error() -> VideoDBServerError:
    return VideoDBServerError("GET", "/async-response/job-1", 503, "busy", retryable=True)


def test_processing_waits_one_interval_and_keeps_no_event():
    step = tracker().on_status(PROCESSING, T0 + 1)
    assert step.event is None
    assert step.wait == 5.0


def test_in_progress_counts_as_processing():
    # "in progress" is normalised by responses.parse_job_status
    from airflow_provider_videodb.responses import parse_job_status

    status = parse_job_status({"success": True, "status": "in progress", "data": {}})
    assert tracker().on_status(status, T0 + 1).event is None


def test_done_gives_success_event_with_exact_keys():
    step = tracker().on_status(JobStatus(state="done", data={"results": []}), T0 + 12)
    assert step.event is not None
    assert set(step.event) == {"status", "job_id", "output_url", "message"}
    assert step.event["status"] == "success"
    assert step.event["job_id"] == "job-1"
    assert step.event["output_url"] == URL


def test_done_after_deadline_is_still_success():
    step = tracker().on_status(JobStatus(state="done"), T0 + 500)
    assert step.event and step.event["status"] == "success"


def test_failed_job_carries_the_service_reason():
    status = JobStatus(state="failed", message="No transcript", error_code="no_index")
    step = tracker().on_status(status, T0 + 3)
    assert step.event and step.event["status"] == "error"
    assert "No transcript" in step.event["message"]
    assert "no_index" in step.event["message"]


def test_wait_is_cut_at_the_deadline_then_timeout():
    t = tracker(end_time=T0 + 7.0)
    assert t.on_status(PROCESSING, T0 + 5.0).wait == pytest.approx(2.0)
    step = t.on_status(PROCESSING, T0 + 7.0)
    assert step.event and step.event["status"] == "timeout"
    assert "10%" in step.event["message"]


@pytest.mark.parametrize(
    "error",
    [
        VideoDBAuthenticationError("GET", "/async-response/x", 401, "bad key"),
        VideoDBPermissionError("GET", "/async-response/x", 403, "plan"),
        VideoDBNotFoundError("GET", "/async-response/x", 404, "no such job"),
        VideoDBUnsafeURLError("http://evil.example/x", "http://127.0.0.1:1"),
        VideoDBConfigError("no key"),
        VideoDBTransportError(
            "GET", "/async-response/x", "certificate verify failed", sent=False, retryable=False
        ),
    ],
)
def test_permanent_errors_end_at_once(error):
    assert is_permanent(error)
    step = tracker(max_consecutive_failures=5).on_error(error, T0 + 1)
    assert step.event and step.event["status"] == "error"
    assert str(error) in step.event["message"]


@pytest.mark.parametrize(
    "error",
    [
        server_error(),
        VideoDBServerError("GET", "/async-response/x", 500, "oops"),
        VideoDBRateLimitError("GET", "/async-response/x", 429, "slow down", retry_after=1.0),
        VideoDBResponseError("GET", "/async-response/x", 200, "malformed JSON"),
        VideoDBTransportError("GET", "/async-response/x", "connection reset", sent=True),
    ],
)
def test_transient_errors_are_not_permanent(error):
    assert not is_permanent(error)


def test_failure_budget_allows_n_in_a_row_and_ends_on_the_next():
    t = tracker(max_consecutive_failures=3)
    for i in range(3):
        step = t.on_error(server_error(), T0 + i)
        assert step.event is None, i
        assert step.log_level == logging.WARNING
    step = t.on_error(server_error(), T0 + 4)
    assert step.event and step.event["status"] == "error"
    assert "failed 4 times in a row" in step.event["message"]


def test_a_good_poll_resets_the_failure_budget():
    t = tracker(max_consecutive_failures=2)
    for round_ in range(5):
        assert t.on_error(server_error(), T0 + round_).event is None
        assert t.on_error(server_error(), T0 + round_).event is None
        assert t.on_status(PROCESSING, T0 + round_).event is None
    assert t.failures == 0


def test_zero_budget_fails_on_the_first_transient_error():
    step = tracker(max_consecutive_failures=0).on_error(server_error(), T0 + 1)
    assert step.event and step.event["status"] == "error"


def test_retry_after_is_the_minimum_wait():
    error = VideoDBRateLimitError("GET", "/async-response/x", 429, "slow", retry_after=12.0)
    assert tracker().on_error(error, T0 + 1).wait == 12.0
    small = VideoDBRateLimitError("GET", "/async-response/x", 429, "slow", retry_after=1.0)
    assert tracker().on_error(small, T0 + 1).wait == 5.0


def test_retry_after_never_pushes_past_the_deadline():
    error = VideoDBRateLimitError("GET", "/async-response/x", 429, "slow", retry_after=60.0)
    assert tracker(end_time=T0 + 10).on_error(error, T0 + 4).wait == pytest.approx(6.0)


def test_failure_at_the_deadline_is_a_timeout_naming_the_error():
    step = tracker(end_time=T0 + 10).on_error(server_error(), T0 + 10)
    assert step.event and step.event["status"] == "timeout"
    assert "busy" in step.event["message"]


def test_no_growth_without_max_poll_interval():
    t = tracker(end_time=T0 + 10_000)
    assert t.interval(T0 + 5_000) == 5.0


def test_growth_is_a_tenth_of_elapsed_and_bounded():
    t = tracker(end_time=T0 + 10_000, max_poll_interval=60.0)
    assert t.interval(T0 + 10) == 5.0
    assert t.interval(T0 + 200) == pytest.approx(20.0)
    assert t.interval(T0 + 5_000) == 60.0
    assert t.on_status(PROCESSING, T0 + 300).wait == pytest.approx(30.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval": 0},
        {"poll_interval": -1},
        {"max_poll_interval": 1.0},
        {"max_consecutive_failures": -1},
    ],
)
def test_bad_settings_are_refused_naming_the_field(kwargs):
    with pytest.raises(VideoDBValidationError) as raised:
        tracker(**kwargs)
    assert raised.value.field == next(iter(kwargs))


def test_a_wait_round_trips_through_its_primitives():
    """What the trigger serializes is what it rebuilds: plain values, the same wait."""
    wait = JobWait("job-1", URL, T0 + 100, T0, WaitPolicy(2.0, 30.0, 7))
    primitives = wait.to_primitives()
    assert all(isinstance(v, str | float | int) for v in primitives.values())
    assert JobWait.from_primitives(**primitives) == wait


def test_first_delay_spreads_over_one_interval_and_respects_deadline():
    t = tracker()
    assert t.first_delay(T0, rand=lambda: 0.0) == 0.0
    assert t.first_delay(T0, rand=lambda: 0.5) == pytest.approx(2.5)
    assert tracker(end_time=T0 + 1).first_delay(T0, rand=lambda: 0.99) <= 1.0
    assert tracker(end_time=T0 - 50).first_delay(T0, rand=lambda: 0.99) == 0.0


def test_progress_is_logged_on_new_quarters_at_most_every_min_gap():
    t = tracker(end_time=T0 + 10_000)
    logged = []
    for i, pct in enumerate([0, 5, 10, 20, 26, 30, 49, 51, 60, 80, 99]):
        now = T0 + 10 * (i + 1)
        step = t.on_status(JobStatus(state="processing", percentage=float(pct)), now)
        if step.log_message:
            logged.append((now - T0, pct))
    # Quiet for the first PROGRESS_MIN_GAP seconds; then quarters, 30 s apart at least.
    assert logged == [(30, 10), (60, 30), (90, 60)]


def test_short_jobs_log_nothing_of_their_own():
    t = tracker()
    steps = [t.on_status(PROCESSING, T0 + s) for s in (1, 6, 11)]
    steps.append(t.on_status(JobStatus(state="done"), T0 + 16))
    assert [s.log_message for s in steps[:3]] == [None, None, None]
    assert steps[3].log_level == logging.DEBUG


def test_progress_without_percentage_is_logged_every_period():
    t = tracker(end_time=T0 + 10_000, progress_log_every=60.0)
    status = JobStatus(state="processing")
    times = [T0 + s for s in range(5, 200, 5)]
    logged = [now - T0 for now in times if t.on_status(status, now).log_message]
    assert logged == [60, 120, 180]


class FakeClock:
    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


def test_wait_for_job_runs_the_tracker_to_its_event(caplog):
    clock = FakeClock()
    answers = iter(
        [
            server_error(),
            JobStatus(state="processing", percentage=50.0),
            JobStatus(state="done"),
        ]
    )

    def fetch() -> JobStatus:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    log = logging.getLogger("test.wait")
    with caplog.at_level(logging.INFO, logger="test.wait"):
        event = wait_for_job(tracker(), fetch, log, sleep=clock.sleep, clock=clock.time)
    assert event["status"] == "success"
    assert clock.sleeps[1:] == [5.0, 5.0]
    assert any("failed (1/5 in a row)" in r.getMessage() for r in caplog.records)


def test_wait_for_job_times_out_by_the_wall_clock():
    clock = FakeClock()
    event = wait_for_job(
        tracker(end_time=T0 + 12),
        lambda: PROCESSING,
        logging.getLogger("test.wait"),
        sleep=clock.sleep,
        clock=clock.time,
    )
    assert event["status"] == "timeout"
    assert clock.now == pytest.approx(T0 + 12)
