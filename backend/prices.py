"""The one price table: on-demand USD per hour of the instance types the lab runs, per region.

Only what bills by the hour while it runs is priced: EC2 instances (Linux on-demand) and
SageMaker real-time endpoints (per instance). S3, Lambda, IAM and Logs cost next to nothing at
lab scale and count as 0. Prices change: the table says when it was taken (PRICES_AS_OF), and a
type or region not in it is reported as unpriced rather than guessed.
"""
from __future__ import annotations

from datetime import date

from . import i18n

# aws.amazon.com/ec2/pricing/on-demand and aws.amazon.com/sagemaker/pricing (real-time inference).
PRICES_AS_OF = "2025-06"
PRICES_SOURCE = "aws.amazon.com/ec2/pricing/on-demand · aws.amazon.com/sagemaker/pricing"
SUPPORTED_REGIONS = ("eu-central-1", "eu-west-1", "us-east-1")

EC2_USD_PER_HOUR: dict[str, dict[str, float]] = {
    "eu-central-1": {"t2.micro": 0.0134, "t2.medium": 0.0536, "t2.large": 0.1072,
                     "t3.micro": 0.012, "t3.medium": 0.048, "t3.large": 0.096},
    "eu-west-1": {"t2.micro": 0.0126, "t2.medium": 0.05, "t2.large": 0.1008,
                  "t3.micro": 0.0114, "t3.medium": 0.0456, "t3.large": 0.0912},
    "us-east-1": {"t2.micro": 0.0116, "t2.medium": 0.0464, "t2.large": 0.0928,
                  "t3.micro": 0.0104, "t3.medium": 0.0416, "t3.large": 0.0832},
}

SAGEMAKER_USD_PER_HOUR: dict[str, dict[str, float]] = {
    "eu-central-1": {"ml.t2.medium": 0.0654, "ml.m5.large": 0.138, "ml.m5.xlarge": 0.276,
                     "ml.c5.large": 0.122},
    "eu-west-1": {"ml.t2.medium": 0.0612, "ml.m5.large": 0.128, "ml.m5.xlarge": 0.256,
                  "ml.c5.large": 0.114},
    "us-east-1": {"ml.t2.medium": 0.056, "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23,
                  "ml.c5.large": 0.102},
}


def prices_as_of() -> str:
    """When the table was taken, as a month in the current language ("June 2025", "giugno 2025")."""
    from babel.dates import format_skeleton

    year, month = (int(part) for part in PRICES_AS_OF.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=i18n.current())


def hourly_price(region: str, instance_type: str) -> float | None:
    """Return the on-demand USD per hour of an EC2 (t3.large) or SageMaker (ml.m5.large) type, None if unpriced."""
    table = SAGEMAKER_USD_PER_HOUR if instance_type.startswith("ml.") else EC2_USD_PER_HOUR
    return table.get(region, {}).get(instance_type)
