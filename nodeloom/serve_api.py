"""The endpoints of `nodeloom serve`, under /api/v1. Runs and run lists are the objects `nodeloom runs
--json` and `nodeloom show --json` print (nodeloom.history builds both); invalid pipelines get the
problems `nodeloom validate` lists."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from importlib.metadata import version as installed_version
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nodeloom.engine.events import ACTIVE, RUN_STATUSES
from nodeloom.engine.store import NotFound, RunDetail, Store, StoreError
from nodeloom.engine.validation import PipelineInvalid
from nodeloom.history import run_document, run_summary
from nodeloom.output import UsageError, plural, say
from nodeloom.serve_runs import RunQueue, RunWatcher, prepare_run

API = "/api/v1"
MAX_BODY_BYTES = 2 * 1024 * 1024  # a pipeline is a few kB; a bigger body is a mistake or an attack
EVENT_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0  # an SSE comment now and then, so idle proxies keep a long run's stream open
RunStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
assert set(get_args(RunStatusName)) == {str(status) for status in RUN_STATUSES}, "RunStatusName follows RunStatus"

DESCRIPTION = """Run NodeLoom pipelines and read their history from other programs.

Every endpoint but `/api/v1/health` wants `Authorization: Bearer TOKEN` (see the line `nodeloom serve`
prints when it starts). Runs execute in worker processes, at most `--max-runs` at once, and are recorded
in the same store as the app's and the command line's: `nodeloom runs` lists them too."""


# At module level: FastAPI reads the endpoints' annotations as strings (`from __future__ import annotations`)
# and resolves them in this module's namespace.
BEARER = HTTPBearer(auto_error=False, description="The token named in `nodeloom serve`'s start-up line")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: str | dict[str, Any] = Field(
        ...,
        description="A saved pipeline (NAME or NAME@VERSION), a shipped example (example:NAME) or a pipeline "
        "object (the JSON `nodeloom pipelines NAME --export` prints), saved as a version when run",
        examples=["example:word_vectors"],
    )
    set: dict[str, Any] = Field(
        default_factory=dict,
        description='Overrides, as `--set`: {"node.param": value, "settings.seed": 3}',
    )
    seed: int | None = Field(None, ge=0, description="The pipeline's seed for this run (as `nodeloom run --seed`)")


class RunAccepted(BaseModel):
    run_id: str
    status: str = Field(description="`queued`: follow it at /runs/{run_id} or /runs/{run_id}/events")


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413), whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length", b"0")
        if not announced.isdigit() or int(announced) > self.limit:
            await JSONResponse({"detail": self.too_large}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # FastAPI passes an HTTPException raised while reading the body on
                raise HTTPException(413, self.too_large)
            return message

        await self.app(scope, limited, send)

    @property
    def too_large(self) -> str:
        return f"the request body is larger than {self.limit // 1024} kB"


def invalid_pipeline(source: str, exc: PipelineInvalid) -> JSONResponse:
    """422 with the CLI's wording: the headline `nodeloom run` prints, and each problem."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": f"{source} is not a valid pipeline ({plural(len(exc.problems), 'problem')})",
            "problems": [{"code": p.code, "message": p.message, "node": p.node, "edge": p.edge} for p in exc.problems],
        },
    )


def create_app(store: Store, queue: RunQueue, token: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The queue lives as long as the server: closed here, before uvicorn re-raises a SIGTERM it caught
        queue.start()
        yield
        dropped = await run_in_threadpool(queue.close)
        if dropped:
            say(("warning: ", "yellow"), f"{plural(dropped, 'waiting run')} never started (the server stopped)")

    app = FastAPI(
        title="NodeLoom API", version=installed_version("nodeloom"), description=DESCRIPTION, lifespan=lifespan
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, token.encode()):
            raise HTTPException(
                401,
                "a valid bearer token is required (Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get(f"{API}/health", tags=["server"])
    def health() -> dict[str, str]:
        """Whether the server answers (no token needed)."""
        return {"status": "ok", "version": installed_version("nodeloom")}

    api = APIRouter(prefix=API, dependencies=[Depends(authorized)])

    def find_run(run_id: str) -> RunDetail:
        """A run by id or unique prefix, as `nodeloom show` finds it; else one this server has not recorded yet."""
        try:
            run = store.get_run(store.resolve_run_id(run_id))
        except NotFound as exc:
            pending = queue.find(run_id)
            if pending is None:
                raise HTTPException(404, str(exc)) from None
            return pending.detail()
        assert run is not None
        return run

    @api.get("/pipelines", tags=["pipelines"])
    def pipelines() -> dict[str, Any]:
        """Saved pipelines with their versions (newest first), and the shipped examples, by the names
        POST /runs takes."""
        from nodeloom.pipelines import PREFIX, example_names

        saved = [
            info.to_dict() | {"versions": [v.to_dict(with_data=False) for v in store.versions(info.name)]}
            for info in store.list_pipelines()
        ]
        return {"pipelines": saved, "examples": [PREFIX + name for name in example_names()]}

    @api.post(
        "/runs",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        responses={
            400: {"description": "A malformed pipeline reference"},
            404: {"description": "No such saved pipeline or version"},
            422: {"description": "The pipeline or an override is invalid: `problems` lists each, naming its node"},
        },
    )
    def start_run(request: RunRequest) -> Any:
        """Check a pipeline with its overrides and queue a run of it; the run starts when a slot is free."""
        source = request.pipeline if isinstance(request.pipeline, str) else "the posted pipeline"
        try:
            version, overrides = prepare_run(store, request.pipeline, request.set, request.seed)
        except PipelineInvalid as exc:
            return invalid_pipeline(source, exc)
        except RecursionError:
            raise HTTPException(422, f"{source} is nested too deeply to be a pipeline") from None
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except (UsageError, StoreError) as exc:
            raise HTTPException(400, str(exc)) from None
        run = queue.submit(version, overrides)
        return RunAccepted(run_id=run.id, status=run.status)

    @api.get("/runs", tags=["runs"])
    def list_runs(
        pipeline: Annotated[str | None, Query(description="only this pipeline's runs")] = None,
        status: Annotated[RunStatusName | None, Query(description="only runs with this status")] = None,
        sweep: Annotated[
            str | None,
            Query(
                description="only the runs of this `nodeloom sweep` (the `sweep_id` it prints and each of its runs "
                "carries); an unknown id lists no runs, as an unknown pipeline does"
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Run history, newest first, as `nodeloom runs --json`; runs still waiting for a slot come first."""
        recorded = store.list_runs(pipeline, status=status, sweep_id=sweep, limit=limit)
        seen = {run.id for run in recorded}
        # A run waiting here was posted, so it belongs to no sweep: a sweep filter leaves it out
        waiting = [
            run.detail()
            for run in queue.unrecorded()
            if run.id not in seen
            and pipeline in (None, run.version.pipeline)
            and status in (None, run.status)
            and sweep is None
        ]
        return {"runs": [run_summary(run) for run in [*waiting, *recorded][:limit]]}

    @api.get("/runs/{run_id}", tags=["runs"])
    def show_run(run_id: str) -> dict[str, Any]:
        """One run (id or unique prefix) with its nodes, artifacts, curves and log, as `nodeloom show --json`."""
        run = find_run(run_id)
        return run_document(run, store.metric_series(run.id), store.logs(run.id))

    @api.post("/runs/{run_id}/cancel", status_code=202, tags=["runs"])
    def cancel_run(run_id: str) -> dict[str, Any]:
        """Stop a run: a waiting one at once, a running one after its current step (as the app's Stop)."""
        from nodeloom.engine.worker import interrupt_process

        run = find_run(run_id)
        if run.status not in ACTIVE:
            raise HTTPException(409, f"run {run.id} has already ended ({run.status})")
        ours = queue.cancel(run.id)
        if ours is not None:
            return {"run_id": run.id, "status": "cancelled" if ours.status not in ACTIVE else "cancelling"}
        if run.pid is None or run.id in store.mark_interrupted():
            raise HTTPException(409, f"run {run.id} has no live process to stop")
        interrupt_process(run.pid)  # a run of the app or of a terminal: stopped as the app's Stop does
        return {"run_id": run.id, "status": "cancelling"}

    @api.get(
        "/runs/{run_id}/events",
        tags=["runs"],
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "Server-sent events, each `event: KIND` and `data: {JSON}`: run, node, metric, log, "
                "then end (the run as in GET /runs) when it has ended",
            },
        },
    )
    async def run_events(run_id: str) -> StreamingResponse:
        """Follow a run as it goes. The run does not depend on this stream: closing it changes nothing."""
        run = await run_in_threadpool(find_run, run_id)
        watcher = RunWatcher(store, queue, run.id)
        return StreamingResponse(
            event_stream(watcher),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    app.include_router(api)
    return app


async def event_stream(watcher: RunWatcher) -> AsyncIterator[str]:
    quiet = 0.0
    while True:
        events, ended = await run_in_threadpool(watcher.poll)
        for kind, payload in events:
            yield f"event: {kind}\ndata: {json.dumps({'kind': kind, **payload})}\n\n"
        if ended:
            return
        quiet = 0.0 if events else quiet + EVENT_POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": still running\n\n"
        await asyncio.sleep(EVENT_POLL_SECONDS)
