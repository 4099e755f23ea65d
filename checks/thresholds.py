"""Options shared by checks that compare a number with limits (metrics, prometheus_query)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class Threshold(BaseModel):
    """A value is healthy when it is at most `max` and at least `min`."""

    max: float | None = Field(None, description="values above this are unhealthy")
    min: float | None = Field(None, description="values below this are unhealthy")
    on_no_data: Literal["healthy", "unhealthy", "error"] = Field(
        "healthy",
        description="how to judge when there is nothing to compare (no matching series, no "
        "requests in the window): quiet is usually fine, hence healthy",
    )

    @model_validator(mode="after")
    def _has_a_limit(self) -> Threshold:
        if self.max is None and self.min is None:
            raise ValueError("give `max` and/or `min`: without a limit there is nothing to judge")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min:g}) is above `max` ({self.max:g})")
        return self

    def violation(self, value: float) -> str | None:
        """Why `value` breaks a limit, or None."""
        if math.isnan(value):
            return "is NaN"
        if self.max is not None and value > self.max:
            return f"{value:g} is above {self.max:g}"
        if self.min is not None and value < self.min:
            return f"{value:g} is below {self.min:g}"
        return None
