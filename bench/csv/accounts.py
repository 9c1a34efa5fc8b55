#!/usr/bin/env python3
"""Writes a CSV of N realistic key accounts for `kam-server import accounts`
(BENCHMARKS.md, "CSV import of 10,000 accounts"): Chinese names, cities,
scores, tags and notes, owned by one user. Deterministic (seeded), standard
library only.

    python3 bench/csv/accounts.py 10000 li.wei > accounts-10k.csv
"""
import csv
import random
import sys

CITIES = [
    ("上海", "Shanghai", 31.23, 121.47),
    ("杭州", "Hangzhou", 30.27, 120.15),
    ("南京", "Nanjing", 32.06, 118.80),
    ("苏州", "Suzhou", 31.30, 120.62),
    ("合肥", "Hefei", 31.82, 117.23),
    ("宁波", "Ningbo", 29.87, 121.54),
]
TRADES = ["制造", "物流", "医药", "能源", "零售", "金融"]
SUFFIXES = ["有限公司", "集团", "股份有限公司", "科技有限公司"]
NOTES = [
    "采购总监希望在预算周期前收到方案。",
    "信息部副主任支持我们，将引荐给财务总监。",
    "竞争对手报价低8%，我们以服务水平和付款条件应对。",
    "展会后跟进区域运营团队。",
]
STAGES = ["identified", "engaging", "deepening", "maintaining"]
COLUMNS = [
    "name", "segment", "stage", "owner", "industry", "phone", "city",
    "country", "lat", "lon", "score_need", "score_purchasing_power",
    "score_loyalty", "score_size", "score_strategic_value", "tags", "notes",
]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    owner = sys.argv[2] if len(sys.argv) > 2 else "li.wei"
    rng = random.Random(7)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(COLUMNS)
    for index in range(count):
        city, city_en, lat, lon = rng.choice(CITIES)
        trade = rng.choice(TRADES)
        out.writerow([
            f"{city}{trade}{index}{rng.choice(SUFFIXES)}",
            "enterprise",
            rng.choice(STAGES),
            owner,
            trade,
            f"+86 21 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            city_en,
            "China",
            f"{lat + rng.uniform(-0.05, 0.05):.5f}",
            f"{lon + rng.uniform(-0.05, 0.05):.5f}",
            *[rng.randint(0, 100) for _ in range(5)],
            f"{city_en.lower()};{trade}",
            "".join(rng.sample(NOTES, 2)),
        ])


if __name__ == "__main__":
    main()
