"""Packages: list, get, download (Range, ETag) and retire."""

import re
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from hub_assets.hub_protocol.files import byte_range
from hub_assets.ids import check_model_id
from hub_assets.proof.bundle import bundle_name, write_bundle
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.models import append_status
from hub_assets.service.context import ServiceContext
from hub_assets.service.schemas import (
    AUTHENTICATED,
    PackagePage,
    PackageRecord,
    Retired,
    binary,
    errors,
)

_PACKAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def add_package_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes to `app`."""
    Reader = ctx.reader  # noqa: N806 - a type for route annotations
    Admin = ctx.admin  # noqa: N806 - a type for route annotations

    # -- packages ------------------------------------------------------------------------
    def package_or_404(package_id: str) -> dict:
        if not _PACKAGE_ID.fullmatch(package_id):
            raise HTTPException(422, f"Invalid package id {package_id[:80]!r}: expected a UUID.")
        record = ctx.registry.cached(
            ("package", package_id), lambda con: reg_packages.package_record(con, package_id)
        )
        if record is None:
            raise HTTPException(404, f"No package {package_id}.")
        return record

    @app.get(
        "/packages",
        tags=["packages"],
        response_model=PackagePage,
        responses=errors(*AUTHENTICATED),
    )
    def list_packages(
        who: Reader,
        name: Annotated[str | None, Query(max_length=200, description="regex on the name")] = None,
        model_id: Annotated[str | None, Query(max_length=200)] = None,
        status: Annotated[str | None, Query(pattern="^(live|retired)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        """Packages, newest first, filtered and paginated."""
        if model_id is not None:
            check_model_id(model_id)

        def page(con: Any) -> bytes:
            total, items = reg_packages.list_packages(
                con, name_regex=name, model_id=model_id, status=status, limit=limit, offset=offset
            )
            # validated and encoded once per registry state: a repeated read costs neither
            return (
                PackagePage(total=total, limit=limit, offset=offset, items=items)
                .model_dump_json()
                .encode()
            )

        body = ctx.registry.cached(("packages", name, model_id, status, limit, offset), page)
        return Response(body, media_type="application/json")

    @app.get(
        "/packages/{package_id}",
        tags=["packages"],
        response_model=PackageRecord,
        responses=errors(*AUTHENTICATED, 404),
    )
    def get_package(package_id: str, who: Reader) -> dict:
        """One package's record."""
        return package_or_404(package_id)

    @app.get(
        "/packages/{package_id}/download",
        tags=["packages"],
        response_class=StreamingResponse,
        responses={
            **binary("The package zip (206 with a Range)."),
            206: {
                "description": "The requested byte range of the zip.",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            },
            **errors(*AUTHENTICATED, 404, 410, 416),
        },
    )
    def download_package(package_id: str, request: Request, who: Reader) -> Response:
        """The package zip, streamed, with Range and its sha256 as ETag."""
        record = package_or_404(package_id)
        if record["retired_at"] is not None:
            raise HTTPException(410, f"Package {package_id} was retired.")
        size, etag = record["size_bytes"], f'"{record["sha256"]}"'
        rng = request.headers.get("range")
        try:
            span = byte_range(rng, size)
        except ValueError as e:
            raise HTTPException(416, str(e)) from None
        if span is None:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        start, end = span
        status = 206 if rng else 200

        def body() -> Iterator[bytes]:
            with ctx.store.fs.open(ctx.store.path(record["name"], record["version"]), "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(1024 * 1024, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk

        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start + 1),
            "Content-Disposition": f'attachment; filename="{record["name"]}-'
            f'{record["version"]}.zip"',
        }
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(
            body(), status_code=status, media_type="application/zip", headers=headers
        )

    @app.get(
        "/packages/{package_id}/bundle",
        tags=["packages"],
        response_class=StreamingResponse,
        responses={
            **binary("package.zip and its proof/, in one zip."),
            **errors(*AUTHENTICATED, 404, 410),
        },
    )
    def download_bundle(package_id: str, who: Reader) -> Response:
        """The package as it ships: one zip of package.zip and its proof/ (signature,
        evidence attestation, BOM), for `hub-assets verify`."""
        record = package_or_404(package_id)
        if record["retired_at"] is not None:
            raise HTTPException(410, f"Package {package_id} was retired.")
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response's body
        write_bundle(ctx.store, record["uri"], spool)
        size = spool.tell()
        spool.seek(0)

        def body() -> Iterator[bytes]:
            with spool:
                while chunk := spool.read(1024 * 1024):
                    yield chunk

        name = bundle_name(record["name"], record["version"])
        return StreamingResponse(
            body(),
            media_type="application/zip",
            headers={
                "Content-Length": str(size),
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )

    @app.delete(
        "/packages/{package_id}",
        tags=["packages"],
        response_model=Retired,
        responses=errors(*AUTHENTICATED, 404, 409),
    )
    def retire_package(package_id: str, request: Request, who: Admin) -> dict:
        """Retire a package: its object is removed, its row kept for audit."""
        record = package_or_404(package_id)
        with ctx.registry.write() as con:
            if not reg_packages.retire_package(con, package_id, who.username):
                raise HTTPException(409, f"Package {package_id} is already retired.")
            append_status(
                con,
                record["model_id"],
                "retired",
                run_id=f"api:{request.state.request_id}",
                reason=f"package {record['name']}@{record['version']} retired by {who.username}",
                revision_sha=record["revision_sha"],
            )
        ctx.approvals_changed()
        path = ctx.store.path(record["name"], record["version"])
        if ctx.store.fs.exists(path):
            ctx.store.fs.rm(path)
        ctx.audit(request, who.username, "retire_package", package_id, "ok", 200)
        return {"package_id": package_id, "status": "retired"}
