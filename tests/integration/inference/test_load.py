"""Load (issue 15, item 10): concurrency 64 on Predict for 30 s (FOUNDRY_TEST_LOAD_S to change
it) on loopback against a tiny model: zero errors, and flat memory.

Memory criterion: the service's resident memory at the end exceeds the one after the warm-up
by less than `MAX_RSS_GROWTH_BYTES` (50 MiB). The warm-up (every worker has made calls, the
batcher, ONNX Runtime's arena and gRPC's buffers have reached their working size) absorbs the
one-time growth; what remains is a per-call leak, which thousands of calls a second over 30 s
would turn into far more than 50 MiB, while allocator noise stays well under it. An absolute
bound rather than a percentage: the test process also holds torch and the session's fixtures,
so a percentage of it would hide a leak. The server runs in this process (as every inference
test serves it), so the RSS sampled is the server's plus the client's, which is itself bounded.
"""

from __future__ import annotations

import os

from inference_models import Models
from served import served

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from helpers.load import hold_concurrency

CONCURRENCY = 64
DURATION_S = float(os.environ.get("FOUNDRY_TEST_LOAD_S", "30"))
MAX_RSS_GROWTH_BYTES = 50 * 2**20


async def test_predict_at_concurrency_64_has_no_errors_and_flat_memory(models: Models) -> None:
    async with served(models.settings) as service:
        await service.stub.LoadModel(
            pb.LoadModelRequest(
                model=refs_pb2.ModelRef(name="tiny-cls"),
                variant=model_pb2.MODEL_VARIANT_FP32,
                options=pb.LoadOptions(max_batch_size=32, max_queue_size=256),
            )
        )
        request = pb.PredictRequest(
            model=refs_pb2.ModelRef(name="tiny-cls"), inputs=[pb.PredictInput(text="great movie loved it")]
        )

        async def predict() -> None:
            response = await service.stub.Predict(request, timeout=30)
            assert len(response.predictions) == 1

        report = await hold_concurrency(predict, concurrency=CONCURRENCY, duration_s=DURATION_S, warmup_s=3)
    print("load:", report.as_dict())
    assert report.error_count == 0, report.as_dict()
    assert report.calls > CONCURRENCY, report.as_dict()
    assert report.rss_growth < MAX_RSS_GROWTH_BYTES, report.as_dict()
