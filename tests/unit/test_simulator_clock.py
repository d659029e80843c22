"""The simulated clock: ahead of real time while catching up, never past it (pure)."""

from demo.simulator.clock import DEFAULT_LEAD_MS, PacedClock, SteppedClock, lead_ms

REAL = 1_800_000_000_000


def test_the_lead_lets_a_run_of_a_given_duration_end_now() -> None:
    assert lead_ms(1.0, 3600) == 0
    assert lead_ms(0.5, None) == 0
    assert lead_ms(10.0, 600) == 540_000  # 600 simulated s take 60 real s: start 540 s ago
    assert lead_ms(10.0, None) == DEFAULT_LEAD_MS


def test_a_paced_clock_runs_fast_until_it_reaches_real_time_then_keeps_pace() -> None:
    clock = PacedClock.starting(REAL, speed=10, duration_s=600)
    assert clock.sim_ms == REAL - 540_000
    seen = []
    for real in range(REAL, REAL + 120_001, 500):
        seen.append(clock.advance(real))
        assert seen[-1] <= real  # never in the future
    assert seen == sorted(seen)
    # Ten times real time for 60 s, then caught up: from then on it is the real time.
    assert seen[2] - seen[1] == 5_000
    assert seen[120] == REAL + 60_000
    assert seen[-1] == REAL + 120_000
    assert seen[-1] - seen[-2] == 500


def test_a_paced_clock_slows_down_when_the_simulator_falls_behind() -> None:
    clock = PacedClock.starting(REAL, speed=10, duration_s=None, max_step_ms=2_000)
    start = clock.sim_ms
    # Ten real seconds went by in one step (a slow server): counted as two.
    assert clock.advance(REAL + 10_000) == start + 20_000
    # The real clock going back (an NTP step) does not move simulated time back.
    assert clock.advance(REAL + 5_000) == start + 20_000


def test_a_stepped_clock_covers_its_span_and_ends_at_its_end() -> None:
    clock = SteppedClock.ending(REAL, duration_s=95, step_s=10)
    assert clock.sim_ms == REAL - 95_000
    times = [clock.advance() for _ in range(12)]
    assert times[0] == REAL - 85_000
    assert times[8] == REAL - 5_000
    assert times[9:] == [REAL, REAL, REAL]
