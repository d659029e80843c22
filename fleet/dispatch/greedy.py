"""The benchmarks' baseline dispatcher: no interleaving, no re-optimisation (pure)."""

from fleet.dispatch.model import Planned, Problem, Schedule, StopKind
from fleet.dispatch.schedules import feasible, timed


def plan(problem: Problem) -> dict[str, Schedule]:
    """Each request in no order yet, in order of arrival, appended to the end of the order
    of the pod taking new requests that can start its pickup soonest; one no pod can take
    stays unplanned."""
    orders = {pod.pod_id: tuple(problem.orders.get(pod.pod_id, ())) for pod in problem.pods}
    planned = {p.request_id for order in orders.values() for p in order}
    for request_id in problem.requests:
        if request_id in planned:
            continue
        stops = (Planned(request_id, StopKind.PICKUP), Planned(request_id, StopKind.DROPOFF))
        soonest: tuple[int, str] | None = None
        for pod in (p for p in problem.pods if p.takes_new):
            schedule = feasible(problem, pod, orders[pod.pod_id] + stops)
            if schedule is not None and (
                soonest is None or schedule.stops[-2].start_s < soonest[0]
            ):
                soonest = (schedule.stops[-2].start_s, pod.pod_id)
        if soonest is not None:
            orders[soonest[1]] += stops
    return {pod.pod_id: timed(problem, pod, orders[pod.pod_id]) for pod in problem.pods}
