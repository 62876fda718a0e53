"""Builds the FastAPI app around an engine. The only place where the parts are wired together."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Callable

from celery import Celery

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from loguru import logger

from story2video import __version__
from story2video.api.auth import ApiKeyGate, parse_api_keys
from story2video.api.errors import install_error_handlers
from story2video.api.limits import RequestLimitsMiddleware
from story2video.api.openapi import install_openapi
from story2video.accounts.service import AccountService
from story2video.api.routes import (
    accounts,
    artifacts,
    docs,
    exports,
    files,
    health,
    notifications,
    operations,
    scripts,
    stages,
    stories,
    storyboard,
    stream_scripts,
    uploads,
    web,
    webhooks,
)
from story2video.api.urls import ArtifactSigner, Links
from story2video.config import Settings
from story2video.engine import STAGE_PLANS, Engine
from story2video.errors import ConfigurationError
from story2video.jobs.celery_app import make_celery
from story2video.jobs.celery_runner import CeleryJobRunner
from story2video.jobs.events import EventHub, EventLog
from story2video.jobs.leases import Heartbeat, LeaseKeeper, LeaseSweeper, new_worker_id
from story2video.jobs.operations import OperationService
from story2video.jobs.relay import RedisEventRelay
from story2video.jobs.runner import JobRunner, LocalJobRunner
from story2video.jobs.states import UNFINISHED_STATUSES
from story2video.media.ffmpeg import locate_ffmpeg
from story2video.media.fonts import resolve_cjk_font
from story2video.pipeline.deps import PipelineDeps
from story2video.pipeline.slots import RankedSlots
from story2video.protocol import Operation
from story2video.providers.base import Providers
from story2video.storage.accounts import AccountRepository
from story2video.storage.artifacts import ArtifactStore
from story2video.storage.datalock import holder_note, lock_data
from story2video.storage.db import Database, open_database
from story2video.storage.sharedfolder import check_shared_folder
from story2video.storage.events import EventRepository
from story2video.storage.leases import LeaseRepository
from story2video.storage.operations import OperationRepository
from story2video.storage.provider_jobs import ProviderJobRepository
from story2video.storage.publish import PUBLISHER_EXTRA, ArtifactPublisher
from story2video.storage.retention import RetentionPolicy, RetentionSweeper
from story2video.storage.scripts import ScriptRepository
from story2video.storage.stories import StoryRepository
from story2video.storage.uploads import UploadRepository
from story2video.storage.webhooks import WebhookRepository
from story2video.storage.workers import WorkerRepository
from story2video.uploads.service import UploadService
from story2video.util.heap import glibc_heap
from story2video.util.workdirs import sweep_stale_work_folders
from story2video.webhooks.sender import WebhookSender
from story2video.webhooks.service import WebhookService

DESCRIPTION = """Turns a written script into a finished short video: storyboard (LLM) → keyframes (T2I) →
clips (I2V) → narration (TTS) → FFmpeg. Every call runs as an operation; send `Prefer: respond-async`
to get `202` + `Location` at once, or wait for the seed-compatible answer."""

ROUTE_MODULES = (
    storyboard, scripts, operations, stages, stories, files, exports, webhooks, uploads, artifacts, accounts, notifications,
    health, web, docs, stream_scripts,
)


@dataclass
class Assembly:
    """The parts one process runs, wired for its role."""

    settings: Settings
    engine: Engine
    hub: EventHub
    db: Database
    worker_id: str
    relay: RedisEventRelay | None = None
    celery: Celery | None = None
    workers: WorkerRepository | None = None

    def heartbeat(self) -> Heartbeat:
        operations = self.engine.operations
        return Heartbeat(operations.leases, operations.pull_remote_changes, self.workers)

    def sweeper(self, take_over: bool) -> LeaseSweeper:
        operations = self.engine.operations
        act = operations.take_over if take_over else operations.interrupt
        return LeaseSweeper(operations.leases.repo, act, interval_s=max(1.0, self.settings.lease_ttl_s / 2))


def build_engine(settings: Settings, providers: Providers) -> Assembly:
    db = open_database(settings.database_url, settings.database_path)
    if settings.service_role != "all":
        check_shared_folder(db, settings.output_dir)
    stories_repo = StoryRepository(db)
    deps = PipelineDeps(
        settings=settings,
        providers=providers,
        stories=stories_repo,
        store=ArtifactStore(settings.artifacts_dir, db, publisher=_publisher(providers)),
        ffmpeg=locate_ffmpeg(settings.ffmpeg_binary),
        font=resolve_cjk_font(settings.font_path),
        compose_slots=RankedSlots(settings.compose_workers or os.cpu_count() or 1),
        provider_jobs=ProviderJobRepository(db),
        scripts=ScriptRepository(db),
    )
    hub = EventHub()
    worker_id = new_worker_id(settings.worker_id)
    leases = LeaseRepository(db)
    assembly = Assembly(settings=settings, engine=None, hub=hub, db=db, worker_id=worker_id)  # type: ignore[arg-type]
    runner: JobRunner
    if settings.service_role == "all":
        runner = LocalJobRunner(
            settings.max_running_operations,
            settings.max_queued_operations,
            settings.queue_retry_after_s,
            after_each=_heap_trim(settings),
        )
    else:
        assembly.celery = make_celery(settings)
        assembly.workers = WorkerRepository(db)
        assembly.relay = RedisEventRelay(settings.celery_broker_url, hub, origin=worker_id)
        runner = CeleryJobRunner(
            assembly.celery, assembly.workers, leases, settings.celery_broker_url,
            settings.max_queued_operations, settings.queue_retry_after_s, settings.lease_ttl_s,
        )  # fmt: skip
    events = EventLog(EventRepository(db), hub, assembly.relay)
    operations = OperationService(OperationRepository(db), events, runner, LeaseKeeper(leases, worker_id, settings.lease_ttl_s), STAGE_PLANS)
    upload_service = UploadService(settings, deps.store, UploadRepository(db), deps.ffmpeg)
    webhooks = WebhookService(settings, WebhookRepository(db), operations.repo)
    events.listeners.append(webhooks.on_event)  # whichever process ends an operation queues its callback
    assembly.engine = Engine(deps, operations, upload_service, webhooks)
    return assembly


def webhook_sender(settings: Settings, engine: Engine) -> WebhookSender:
    """The sender of queued callbacks; the operation's links as a response has them (PUBLIC_BASE_URL, signed)."""
    links = Links(settings.public_base_url.rstrip("/"), ArtifactSigner.from_settings(settings))

    def present(view: dict) -> dict:
        return Operation.model_validate(links.absolutize(view)).model_dump(mode="json")

    return WebhookSender(engine.webhooks, present)


def _heap_trim(settings: Settings) -> Callable[[], bool] | None:
    """Caps what glibc's heap keeps and returns its trim, to run after each operation; None where off or not glibc."""
    heap = glibc_heap() if settings.release_heap_memory else None
    if heap is None:
        if settings.release_heap_memory:
            logger.info("RELEASE_HEAP_MEMORY has no effect: the C library is not glibc")
        return None
    heap.cap_retained()
    return heap.trim


def _publisher(providers: Providers) -> ArtifactPublisher | None:
    """The artifact publisher a provider package built (e.g. OSS), if any."""
    publisher = providers.extras.get(PUBLISHER_EXTRA)
    if publisher is not None and not isinstance(publisher, ArtifactPublisher):
        raise ConfigurationError(f"providers.extras['{PUBLISHER_EXTRA}'] is a {type(publisher).__name__}, not an ArtifactPublisher")
    if publisher is not None:
        logger.info("finished {} artifacts are published to {}", "/".join(sorted(publisher.kinds)), publisher.name)
    return publisher


async def check_backends(engine: Engine) -> None:
    """Log every stage's backend; a built-in backend that cannot work stops the start-up."""
    for status in await engine.backend_statuses():
        where = f" at {status.location}" if status.location else ""
        if status.ready:
            logger.info("{} backend '{}' ({}){} is ready", status.stage, status.backend, status.model, where)
        elif status.backend == "preview":
            raise ConfigurationError(f"the built-in {status.stage} backend cannot work: {status.detail}")
        else:
            logger.error("{} backend '{}'{} is NOT reachable: {}", status.stage, status.backend, where, status.detail)


def _retention_sweeper(settings: Settings, engine: Engine) -> RetentionSweeper:
    policy = RetentionPolicy(settings.artifact_retention_days, settings.upload_retention_days, settings.retention_sweep_interval_s)
    return RetentionSweeper(engine.deps.stories.db, engine.deps.store, policy, UNFINISHED_STATUSES)


@asynccontextmanager
async def _single_process(settings: Settings, assembly: Assembly):
    """SERVICE_ROLE=all: the data is locked before anything repairs it, so another copy's work is never
    failed or deleted. Holding it proves the previous process on a SQLite file dead, so its unfinished
    operations are marked interrupted; on a shared PostgreSQL only those whose lease expired are."""
    engine = assembly.engine
    note = holder_note(f"{settings.service_host}:{settings.service_port}")
    data_lock = lock_data(settings.database_path, settings.output_dir, note)
    try:
        swept = engine.deps.store.sweep_temp_files()
        folders = sweep_stale_work_folders()
        sweeper = assembly.sweeper(take_over=False)
        recovered = engine.operations.recover_after_restart(every_unfinished=assembly.db.dialect == "sqlite") + sweeper.sweep_once()
        if swept or folders or recovered:
            logger.warning(
                "start-up: removed {} unfinished temp files and {} work folders of stopped processes, failed {} interrupted operations",
                swept, folders, recovered,
            )
        await check_backends(engine)
        async with _background(
            ("retention", _retention_sweeper(settings, engine).run()),
            ("heartbeat", assembly.heartbeat().run()),
            ("leases", sweeper.run()),
            ("webhooks", webhook_sender(settings, engine).run()),
        ):
            yield
    finally:
        data_lock.release()


@asynccontextmanager
async def _api_replica(settings: Settings, assembly: Assembly):
    """SERVICE_ROLE=api: serves and enqueues; other replicas and the workers share the database, the
    broker and OUTPUT_DIR, so nothing here repairs or sweeps what they may be using."""
    await check_backends(assembly.engine)
    async with _background(
        ("retention", _retention_sweeper(settings, assembly.engine).run()),
        ("events", assembly.relay.listen()),
        ("webhooks", webhook_sender(settings, assembly.engine).run()),
    ):
        yield
    assembly.relay.close()


@asynccontextmanager
async def _background(*jobs: tuple[str, object]):
    tasks = [asyncio.create_task(job, name=name) for name, job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings, providers: Providers) -> FastAPI:
    """The HTTP app of SERVICE_ROLE all (it also runs the work) or api (workers run it)."""
    if settings.service_role == "worker":
        raise ConfigurationError("SERVICE_ROLE=worker serves no HTTP: start it with python main_dispatcher.py")
    assembly = build_engine(settings, providers)
    engine, hub = assembly.engine, assembly.hub

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        hub.bind_loop(asyncio.get_running_loop())
        if settings.service_role == "all":
            async with _single_process(settings, assembly):
                yield
        else:
            async with _api_replica(settings, assembly):
                yield
        # The database stays open: it was opened with the app, not by this lifespan, and a server
        # (or a test transport) may run the lifespan again on the same app.
        await engine.operations.runner.shutdown()

    # docs_url/redoc_url off: FastAPI's pages load from a CDN; routes/docs.py serves offline ones.
    app = FastAPI(title="Story2Video", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.hub = hub
    app.state.assembly = assembly
    app.state.api_keys = parse_api_keys(settings.api_keys)
    app.state.accounts = AccountService(AccountRepository(assembly.db), settings) if settings.accounts_enabled else None
    app.state.artifact_signer = ArtifactSigner.from_settings(settings)
    install_error_handlers(app)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        file_bodies={uploads.UPLOAD_PATH: settings.max_upload_bytes},
    )
    # Added after the limits, so it runs before them: 401 before any body is limited or parsed.
    app.add_middleware(ApiKeyGate, routes=[route for module in ROUTE_MODULES for route in module.router.routes])
    if settings.cors_origins:
        origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["*"], expose_headers=["Location", "Retry-After"]
        )
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    app.mount(web.STATIC_PATH, web.static_files(), name="ui")
    app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    install_openapi(app)
    return app
