"""Train a churn model on the demo dataset through the registry, as a training job should.

    export GOVERNANCE_URL=http://127.0.0.1:8000
    export GOVERNANCE_CLIENT_ID=... GOVERNANCE_CLIENT_SECRET=...   # as `make run` printed them
    python train_churn.py --dataset churn-events --purpose churn-model --epsilon 1.0 --out out/

`make run`'s demo data (seed_demo) holds the dataset, the purpose, a privacy budget and the
service account `churn-training` with its grant; see clients/python/README.md, Example.

One call (``governed_read``) checks access, keeps only the customers whose consent was valid
at the decision's snapshot, applies the field obligations (the e-mail pseudonymized, the phone
dropped, the age generalized, the notes masked) and claims ``--epsilon`` of the dataset's
privacy budget. The model is a Gaussian naive Bayes built only from differentially private
statistics: per class a noisy count and a noisy sum of each clamped feature, released with
OpenDP's Laplace mechanism. The classes split the rows into disjoint parts (a customer is in
one), so each part may spend the whole claimed ε (parallel composition), split evenly over its
releases (sequential composition); variances come from the public feature ranges, not the data.
scikit-learn holds the model and scores it. The run manifest (lease, decision, consent
snapshot, budget claim, dataset version) is written next to the model; with MLflow installed
and a run active it is logged too.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import opendp.prelude as dp
import pandas as pd
from governance_client import AccessDenied, Client
from sklearn.naive_bayes import GaussianNB

HERE = Path(__file__).parent
FEATURES = {  # clamping bounds: public knowledge about the domain, never read from the data
    "age": (0.0, 100.0),
    "tenure_months": (0.0, 72.0),
    "monthly_spend": (0.0, 150.0),
    "support_calls": (0.0, 10.0),
}
LABEL = "churned"

dp.enable_features("contrib")
_SPACE = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())


def _sum(values: np.ndarray, bounds: tuple[float, float], epsilon: float) -> float:
    measurement = dp.binary_search_chain(
        lambda scale: (
            _SPACE >> dp.t.then_clamp(bounds) >> dp.t.then_sum() >> dp.m.then_laplace(scale)
        ),
        d_in=1,
        d_out=epsilon,
    )
    return float(measurement([float(v) for v in values]))


def _count(values: np.ndarray, epsilon: float) -> float:
    measurement = dp.binary_search_chain(
        lambda scale: _SPACE >> dp.t.then_count() >> dp.m.then_laplace(scale),
        d_in=1,
        d_out=epsilon,
    )
    return float(measurement([float(v) for v in values]))


def dp_gaussian_nb(frame: pd.DataFrame, epsilon: float) -> tuple[GaussianNB, int]:
    """A GaussianNB whose parameters come only from ε-DP releases (and public ranges). Returns
    it and the number of releases ε was split over in each class."""
    classes = np.array([0, 1])
    releases = 1 + len(FEATURES)  # per class; the classes are disjoint (parallel composition)
    each = epsilon / releases
    counts, means = [], []
    for label in classes:
        part = frame[frame[LABEL] == label]
        n = max(_count(part[LABEL].to_numpy(), each), 1.0)
        counts.append(n)
        means.append(
            [
                min(max(_sum(part[name].to_numpy(dtype=float), (low, high), each) / n, low), high)
                for name, (low, high) in FEATURES.items()
            ]
        )
    public_variance = [(high - low) ** 2 / 12 for low, high in FEATURES.values()]
    variances = [public_variance for _ in classes]
    model = GaussianNB()
    model.classes_ = classes
    model.class_count_ = np.array(counts)
    model.class_prior_ = model.class_count_ / model.class_count_.sum()
    model.theta_ = np.array(means)
    model.var_ = np.array(variances)
    model.epsilon_ = 0.0
    model.n_features_in_ = len(FEATURES)
    return model, releases


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(HERE / "data" / "churn.csv"))
    parser.add_argument("--dataset", default="churn-events")
    parser.add_argument("--purpose", default="churn-model")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)

    client = Client(
        os.environ["GOVERNANCE_URL"],
        os.environ["GOVERNANCE_CLIENT_ID"],
        os.environ["GOVERNANCE_CLIENT_SECRET"],
    )

    def load(decision):  # read only the fields the decision allows
        header = pd.read_csv(args.data, nrows=0).columns
        return pd.read_csv(args.data, usecols=[c for c in decision.fields if c in header])

    out = Path(args.out)
    try:
        read = client.governed_read(
            args.dataset,
            args.purpose,
            load,
            output_dir=out,
            epsilon=args.epsilon,
            dataset_version=f"churn.csv sha256 via manifest; {Path(args.data).name}",
            note="train_churn.py: DP Gaussian naive Bayes",
        )
    except AccessDenied as denied:
        print(
            f"{denied}\nThe registry must hold dataset {args.dataset!r} (the columns of "
            f"{Path(args.data).name}), purpose {args.purpose!r} approved for it, and an "
            "acknowledged grant for this service account; seed_demo's demo data has them "
            "for churn-events, churn-model and churn-training (see clients/python/README.md, "
            "Example).",
            file=sys.stderr,
        )
        return {}
    with read:
        frame = read.data
        model, releases = dp_gaussian_nb(frame, args.epsilon)
        features = frame[list(FEATURES)].to_numpy(dtype=float)
        accuracy = float((model.predict(features) == frame[LABEL].to_numpy()).mean())
        summary = {
            "rows_used": len(frame),
            "columns": list(frame.columns),
            "epsilon": args.epsilon,
            "dp_releases": releases,
            "training_accuracy": round(accuracy, 3),
            "decision_id": read.decision.decision_id,
            "consent_snapshot": read.manifest["consent"]["snapshot"]["id"]
            if read.manifest["consent"]
            else None,
            "budget_claim": read.claim.id if read.claim else None,
            "manifest": str(read.manifest_path),
        }
    # Leaving the block committed the budget claim (or raised CommitFailed): only now may the
    # model, computed with the claimed ε, be released. Nothing is written before that.
    out.mkdir(parents=True, exist_ok=True)
    with (out / "model.pkl").open("wb") as handle:
        pickle.dump(model, handle)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
