"""`IngestionClient`: uploads (files streamed in chunks), object imports, dataset versions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import grpc

from foundry.api.common.v1 import dataset_pb2, listing_pb2, refs_pb2, retention_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.client.calls import ServiceClient
from foundry.client.uploads import OnBytes, read_chunks
from foundry.runtime.settings import ServiceName


class IngestionClient(ServiceClient):
    """The ingestion service. Versions are content-addressed (ingesting the same data again
    returns the stored version), so ImportObject is retried on UNAVAILABLE like the reads."""

    service = ServiceName.INGESTION

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.IngestionServiceStub(channel)

    def upload(
        self, requests: Iterable[pb.UploadRequest], *, timeout_s: float | None = None
    ) -> pb.UploadResponse:
        """Upload as it is on the wire: a header, then file starts and chunks or example batches,
        then a commit message (required unless the header declares every file's size and sha256)."""
        return self._upload(self._stub.Upload, requests, timeout_s=timeout_s)

    def upload_files(
        self,
        header: pb.UploadHeader,
        paths: Sequence[Path],
        *,
        on_bytes: OnBytes | None = None,
        on_sent: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> pb.UploadResponse:
        """Upload the files `header.files` describes (in that order) from `paths`, in chunks, then
        commit; `on_bytes` sees each chunk's size, `on_sent` is called once the last one is taken."""

        def requests() -> Iterator[pb.UploadRequest]:
            yield pb.UploadRequest(header=header)
            for index, path in enumerate(paths):
                yield pb.UploadRequest(file_start=pb.UploadFileStart(index=index))
                for chunk in read_chunks(path, on_bytes):
                    yield pb.UploadRequest(chunk=chunk)
            yield pb.UploadRequest(commit=pb.UploadCommit())
            if on_sent is not None:
                on_sent()

        return self.upload(requests(), timeout_s=timeout_s)

    def import_object(
        self, request: pb.ImportObjectRequest, *, timeout_s: float | None = None
    ) -> pb.ImportObjectResponse:
        return self._unary(self._stub.ImportObject, request, timeout_s=timeout_s, long=True)

    def get_dataset(
        self, request: pb.GetDatasetRequest, *, timeout_s: float | None = None
    ) -> pb.GetDatasetResponse:
        return self._unary(self._stub.GetDataset, request, timeout_s=timeout_s)

    def dataset_version(self, name: str, version_id: str = "") -> dataset_pb2.DatasetVersion:
        """A dataset version's manifest (the newest when `version_id` is empty)."""
        ref = refs_pb2.DatasetRef(name=name, version_id=version_id)
        return self.get_dataset(pb.GetDatasetRequest(dataset=ref)).dataset_version

    def list_datasets(
        self, request: pb.ListDatasetsRequest, *, timeout_s: float | None = None
    ) -> pb.ListDatasetsResponse:
        return self._unary(self._stub.ListDatasets, request, timeout_s=timeout_s)

    def all_datasets(
        self, name: str = "", *, corrupt: list[listing_pb2.CorruptEntry] | None = None
    ) -> list[dataset_pb2.DatasetVersion]:
        """Every page of ListDatasets: the newest version of each dataset, or all of `name`'s.
        The versions with a corrupt manifest are added to `corrupt` when given."""
        out: list[dataset_pb2.DatasetVersion] = []
        token = ""
        while True:
            page = self.list_datasets(pb.ListDatasetsRequest(name=name, page_token=token))
            out.extend(page.dataset_versions)
            if corrupt is not None:
                corrupt.extend(page.corrupt)
            if not (token := page.next_page_token):
                return out

    def read_examples(
        self, request: pb.ReadExamplesRequest, *, timeout_s: float | None = None
    ) -> Iterator[pb.ReadExamplesResponse]:
        return self._stream(self._stub.ReadExamples, request, timeout_s=timeout_s)

    def preview(self, request: pb.PreviewRequest, *, timeout_s: float | None = None) -> pb.PreviewResponse:
        return self._unary(self._stub.Preview, request, timeout_s=timeout_s, long=True)

    def delete_dataset_version(
        self, request: pb.DeleteDatasetVersionRequest, *, timeout_s: float | None = None
    ) -> pb.DeleteDatasetVersionResponse:
        """Delete one version (FAILED_PRECONDITION naming its dependents unless `force`). Not
        retried: a repeated deletion answers NOT_FOUND."""
        return self._unary(
            self._stub.DeleteDatasetVersion, request, timeout_s=timeout_s, retry=False, long=True
        )

    def delete_version(
        self, name: str, version_id: str, *, force: bool = False, reason: str = ""
    ) -> retention_pb2.Tombstone:
        """Delete `name@version_id`; the tombstone left in its place."""
        ref = refs_pb2.DatasetRef(name=name, version_id=version_id)
        request = pb.DeleteDatasetVersionRequest(dataset=ref, force=force, reason=reason)
        return self.delete_dataset_version(request).tombstone

    def erase_subject(
        self, request: pb.EraseSubjectRequest, *, timeout_s: float | None = None
    ) -> pb.EraseSubjectResponse:
        """Erase a subject's examples from every dataset version (work that grows with the data)."""
        return self._unary(self._stub.EraseSubject, request, timeout_s=timeout_s, retry=False, long=True)

    def collect_garbage(
        self, request: pb.CollectGarbageRequest, *, timeout_s: float | None = None
    ) -> pb.CollectGarbageResponse:
        """Find (with `apply`, delete) orphan objects."""
        return self._unary(
            self._stub.CollectGarbage, request, timeout_s=timeout_s, retry=not request.apply, long=True
        )
