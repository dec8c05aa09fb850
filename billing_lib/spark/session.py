"""Start (or reuse) the Spark session a verification runs on."""
from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from billing_lib.errors import ParameterError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
APP_NAME = "billing verify"
QUIET_LOG = Path(__file__).with_name("log4j2.properties")  # local mode: Spark logs errors only


def spark_session(master: str | None = None) -> SparkSession:
    """A Spark session on ``master`` (any Spark master URL), in UTC with Arrow on. Without ``master``: the
    session the process already has (a job under spark-submit or on Databricks), else ``local[*]``.

    In local mode the Python workers run this interpreter (so they import the same billing_lib); on a
    cluster, ``PYSPARK_PYTHON`` and the shipped package decide (see docs/spark.md).
    """
    # pyspark warns about pandas 3 on every Arrow function; the engine hands over Arrow, not pandas
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ParameterError("--engine spark needs pyspark: pip install 'billing-workbooks[spark]' "
                             "(or conda install pyspark), and a Java runtime 17 or newer") from None
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise ParameterError("--engine spark needs a Java runtime (17 or newer) and none was found: install one "
                             "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    if master is None and SparkSession.getActiveSession() is not None:  # a job's own session (spark-submit,
        return SparkSession.getActiveSession()                              # Databricks): use it as it is
    master = master or DEFAULT_MASTER
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(APP_NAME)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        memory = os.environ.get("SPARK_DRIVER_MEMORY", "2g")  # local mode: the driver JVM runs the executors
        builder = (builder.config("spark.ui.enabled", "false").config("spark.driver.memory", memory)
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={QUIET_LOG.as_uri()}"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
