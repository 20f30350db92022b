"""``runyard/gallery/...``: the catalog of samples, and scaffolding a project from one
into a folder. Needs no project; the catalog loads on first use, on the I/O pool."""

from __future__ import annotations

from runyard.core.errors import UsageError
from runyard.lsp import protocol as p
from runyard.lsp.server import RunyardServer, request, uri_to_path


def _gallery() -> p.GalleryListResult:
    from runyard.gallery.catalog import load_catalog

    catalog = load_catalog()
    return p.GalleryListResult(
        entries=[
            p.GalleryEntry(
                id=e.id,
                title=e.title,
                description=e.description,
                framework=e.framework,
                task=e.task,
                tags=e.tags,
                targets=e.targets,
                expected_runtime_seconds=e.expected_runtime_seconds,
                metric=p.GalleryMetric(
                    name=e.metric.name, goal=e.metric.goal, value=e.metric.value
                ),
                image=str(e.image),
                run=e.run,
            )
            for e in catalog.entries
        ],
        problems=[p.ConfigProblem(file=str(x.file), message=x.message) for x in catalog.problems],
    )


def _gallery_create(params: p.GalleryCreateParams) -> p.GalleryCreateResult:
    from runyard.gallery.catalog import load_catalog, scaffold

    folder = uri_to_path(params.folder)
    if not folder.is_absolute():
        raise UsageError(f"params.folder: expected an absolute folder, got {params.folder!r}.")
    entry = load_catalog().find(params.id)
    made = scaffold(entry, folder, name=params.name, force=params.force)
    return p.GalleryCreateResult(
        root=str(made.root),
        files=made.files,
        committed=made.committed,
        next_command=made.next_command,
    )


def register(server: RunyardServer) -> None:
    @request(server, p.GALLERY_LIST)
    async def gallery_list(ls: RunyardServer, _params: p.GalleryListParams) -> p.GalleryListResult:
        return await ls.blocking(_gallery)

    @request(server, p.GALLERY_CREATE)
    async def gallery_create(
        ls: RunyardServer, params: p.GalleryCreateParams
    ) -> p.GalleryCreateResult:
        return await ls.blocking(_gallery_create, params)
