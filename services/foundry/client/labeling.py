"""`LabelingClient`: projects, tasks, annotations (submitted or imported from a file), model
pre-labels, aggregation, agreement, rules, label issues, active learning, export."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import grpc

from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as pb_grpc
from foundry.api.labeling.v1 import project_pb2
from foundry.client.calls import ServiceClient
from foundry.client.uploads import OnBytes, read_chunks
from foundry.runtime.settings import ServiceName


class LabelingClient(ServiceClient):
    """The labeling service. Annotations are idempotent per (annotator, item, revision) and
    re-running pre-labels or rules stores nothing new, so those are retried on UNAVAILABLE;
    CreateProject (a new project each time) is not, nor are the calls that queue tasks."""

    service = ServiceName.LABELING

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.LabelingServiceStub(channel)

    # --- projects and tasks -------------------------------------------------------------------------

    def create_project(
        self, request: pb.CreateProjectRequest, *, timeout_s: float | None = None
    ) -> pb.CreateProjectResponse:
        return self._unary(self._stub.CreateProject, request, timeout_s=timeout_s, retry=False)

    def get_project(
        self, request: pb.GetProjectRequest, *, timeout_s: float | None = None
    ) -> pb.GetProjectResponse:
        return self._unary(self._stub.GetProject, request, timeout_s=timeout_s)

    def list_projects(
        self, request: pb.ListProjectsRequest, *, timeout_s: float | None = None
    ) -> pb.ListProjectsResponse:
        return self._unary(self._stub.ListProjects, request, timeout_s=timeout_s)

    def all_projects(self, request: pb.ListProjectsRequest) -> list[project_pb2.Project]:
        """Every page of ListProjects from `request`'s filter."""
        out: list[project_pb2.Project] = []
        page = pb.ListProjectsRequest()
        page.CopyFrom(request)
        while True:
            response = self.list_projects(page)
            out.extend(response.projects)
            if not (token := response.next_page_token):
                return out
            page.page_token = token

    def next_tasks(
        self, request: pb.NextTasksRequest, *, timeout_s: float | None = None
    ) -> pb.NextTasksResponse:
        return self._unary(self._stub.NextTasks, request, timeout_s=timeout_s)

    # --- annotations --------------------------------------------------------------------------------

    def submit_annotations(
        self, request: pb.SubmitAnnotationsRequest, *, timeout_s: float | None = None
    ) -> pb.SubmitAnnotationsResponse:
        return self._unary(self._stub.SubmitAnnotations, request, timeout_s=timeout_s)

    def import_annotations(
        self, requests: Iterable[pb.ImportAnnotationsRequest], *, timeout_s: float | None = None
    ) -> pb.ImportAnnotationsResponse:
        """ImportAnnotations as it is on the wire: a header, then file chunks."""
        return self._upload(self._stub.ImportAnnotations, requests, timeout_s=timeout_s)

    def import_file(
        self,
        header: pb.ImportAnnotationsHeader,
        path: Path,
        *,
        on_bytes: OnBytes | None = None,
        on_sent: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> pb.ImportAnnotationsResponse:
        """Import the file `header` describes, sent from `path` in chunks."""

        def requests() -> Iterator[pb.ImportAnnotationsRequest]:
            yield pb.ImportAnnotationsRequest(header=header)
            for chunk in read_chunks(path, on_bytes):
                yield pb.ImportAnnotationsRequest(chunk=chunk)
            if on_sent is not None:
                on_sent()

        return self.import_annotations(requests(), timeout_s=timeout_s)

    def pre_label(
        self, request: pb.PreLabelRequest, *, timeout_s: float | None = None
    ) -> pb.PreLabelResponse:
        return self._unary(self._stub.PreLabel, request, timeout_s=timeout_s, long=True)

    # --- analysis -----------------------------------------------------------------------------------

    def aggregate(
        self, request: pb.AggregateRequest, *, timeout_s: float | None = None
    ) -> pb.AggregateResponse:
        return self._unary(self._stub.Aggregate, request, timeout_s=timeout_s, long=True)

    def aggregate_all(
        self, request: pb.AggregateRequest
    ) -> tuple[pb.AggregateResponse, list[pb.AggregatedItem]]:
        """The first page (with the reliabilities) and every aggregated item, page by page."""
        first = self.aggregate(request)
        items = list(first.aggregated_items)
        token = first.next_page_token
        while token:
            page = pb.AggregateRequest()
            page.CopyFrom(request)
            page.page_token = token
            response = self.aggregate(page)
            items.extend(response.aggregated_items)
            token = response.next_page_token
        return first, items

    def agreement(
        self, request: pb.AgreementRequest, *, timeout_s: float | None = None
    ) -> pb.AgreementResponse:
        return self._unary(self._stub.Agreement, request, timeout_s=timeout_s, long=True)

    def apply_rules(
        self, request: pb.ApplyRulesRequest, *, timeout_s: float | None = None
    ) -> pb.ApplyRulesResponse:
        return self._unary(self._stub.ApplyRules, request, timeout_s=timeout_s, long=True)

    def find_label_issues(
        self, request: pb.FindLabelIssuesRequest, *, timeout_s: float | None = None
    ) -> pb.FindLabelIssuesResponse:
        """Retried on UNAVAILABLE unless it creates re-annotation tasks."""
        retry = not request.create_tasks
        return self._unary(self._stub.FindLabelIssues, request, timeout_s=timeout_s, retry=retry, long=True)

    def select_for_labeling(
        self, request: pb.SelectForLabelingRequest, *, timeout_s: float | None = None
    ) -> pb.SelectForLabelingResponse:
        """Retried on UNAVAILABLE unless it reorders the annotators' queues."""
        retry = not request.prioritize
        return self._unary(self._stub.SelectForLabeling, request, timeout_s=timeout_s, retry=retry, long=True)

    def export_project(
        self, request: pb.ExportProjectRequest, *, timeout_s: float | None = None
    ) -> pb.ExportProjectResponse:
        """Export to a content-addressed dataset version (a repeat returns the same version)."""
        return self._unary(self._stub.ExportProject, request, timeout_s=timeout_s, long=True)
