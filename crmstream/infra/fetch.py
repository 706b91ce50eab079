"""Fetch the server distributions from Maven Central into the cache, once.

Maven does the downloading (it is the ordinary client for Maven Central and
verifies checksums); we only write a throw-away POM that names what we need.
A fetch lands in a temporary folder and is renamed into place, so an
interrupted fetch never leaves a half-filled cache entry behind.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from crmstream.infra.errors import InfraError

POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>crmstream.local</groupId>
  <artifactId>fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""

DEPENDENCY_TEMPLATE = """    <dependency>
      <groupId>{group}</groupId><artifactId>{artifact}</artifactId>
      <version>{version}</version><type>{type}</type>
    </dependency>"""


def _dependency_xml(coordinate: str) -> str:
    parts = coordinate.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"expected group:artifact:version[:type], got {coordinate!r}")
    group, artifact, version = parts[:3]
    kind = parts[3] if len(parts) == 4 else "jar"
    return DEPENDENCY_TEMPLATE.format(group=group, artifact=artifact, version=version, type=kind)


def maven_fetch(coordinates: list[str], dest: Path, *, cache_dir: Path) -> Path:
    """Copy the artifacts and their runtime dependencies into ``dest`` (once).

    Returns ``dest``. Does nothing when ``dest`` already exists.
    """
    if dest.is_dir():
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(
            "Maven (mvn) is needed to fetch Kafka and Elasticsearch: apt-get install maven"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        deps = "\n".join(_dependency_xml(c) for c in coordinates)
        (work / "pom.xml").write_text(POM_TEMPLATE.format(dependencies=deps))
        out = work / "out"
        command = [
            mvn, "-B", "-q", "-f", str(work / "pom.xml"),
            f"-Dmaven.repo.local={cache_dir / 'm2'}",
            "dependency:copy-dependencies", f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
            raise InfraError(
                f"fetching {', '.join(coordinates)} from Maven Central failed:\n{tail}"
            )
        out.rename(dest)
    return dest
