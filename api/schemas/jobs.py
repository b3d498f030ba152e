"""/v1/jobs: a compute request submitted to run in the background, and the job's state."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from api.problems import Problem
from api.schemas import REQUEST_MODELS


def _submission(kind: str, model: type[BaseModel]) -> type[BaseModel]:
    """``{"kind": <kind>, "request": <that endpoint's body>}`` as its own model."""
    name = "".join(word.capitalize() for word in kind.split("-")) + "Job"
    return create_model(
        name,
        __doc__=f"A {kind} job: ``request`` is the body of POST /v1/{kind}.",
        kind=(Literal[kind], Field(description="the endpoint whose work this is")),  # type: ignore[arg-type]
        request=(model, Field(description=f"the body of POST /v1/{kind}")),
    )


SUBMISSIONS = tuple(_submission(kind, model) for kind, model in REQUEST_MODELS.items())
JobSubmission: Any = Annotated[Union[SUBMISSIONS], Field(discriminator="kind")]  # noqa: UP007
"""The body of POST /v1/jobs: one of the submissions, chosen by ``kind``."""


class Job(BaseModel):
    """A job's state. ``result`` once succeeded, ``error`` once failed."""

    id: str = Field(description="the content hash of the request: the same request, the same id")
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(ge=0.0, le=1.0, description="fraction of the work done")
    result: dict[str, Any] | None = Field(
        default=None, description="when succeeded: the endpoint's response body"
    )
    error: Problem | None = Field(default=None, description="when failed: what went wrong")
