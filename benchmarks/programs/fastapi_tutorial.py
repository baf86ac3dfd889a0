"""The tutorial's REST endpoint: FastAPI, a loaded Keras model, one ``model.predict`` per
request. The serving benchmark's baseline; run with
``ZOO_BENCH_MODEL=model.keras uvicorn benchmarks.programs.fastapi_tutorial:app``."""

from __future__ import annotations

import os

import keras
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = keras.models.load_model(os.environ["ZOO_BENCH_MODEL"])


class PredictRequest(BaseModel):
    instances: list


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict")
def predict(request: PredictRequest) -> dict:
    data = np.array(request.instances, dtype="float32")
    predictions = model.predict(data, verbose=0)
    return {"predictions": predictions.tolist()}
