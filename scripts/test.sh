#!/usr/bin/env bash
# The test command: brings up the local Kubernetes control plane with its real node and the Hypha
# server (building what is missing, reusing what runs), builds helm and the images, runs every test against them and the Helm chart's checks,
# and fails if any test failed or was skipped. The servers stay up for the next run; stop them with `scripts/hypha-server.sh stop` and
# `scripts/k8s-cluster.sh stop`.
set -euo pipefail
cd "$(dirname "$0")/.."

# the cluster first: its real node's bridge must exist for the Hypha server to listen there too
scripts/k8s-cluster.sh start
scripts/hypha-server.sh start
scripts/helm-tools.sh >/dev/null
# the worker's image from the Dockerfile (RealNodeTest deploys it), loaded into the real node
scripts/images.sh build all
scripts/images.sh import

rm -rf target/surefire-reports
mvn -B verify "$@"
# every dependency the code uses is declared and every declared one used (pom.xml says what only runs)
mvn -B dependency:analyze-only

# a skipped test proves nothing: treat one as a failure
python3 - <<'PY'
import glob, sys, xml.etree.ElementTree as ET
tests = skipped = 0
for path in glob.glob("target/surefire-reports/TEST-*.xml"):
    suite = ET.parse(path).getroot()
    tests += int(suite.get("tests", 0))
    skipped += int(suite.get("skipped", 0))
    for case in suite.iter("testcase"):
        if case.find("skipped") is not None:
            print("skipped: %s.%s" % (case.get("classname"), case.get("name")))
if tests == 0:
    sys.exit("no test ran")
if skipped:
    sys.exit("%d of %d tests were skipped" % (skipped, tests))
print("%d tests ran, none skipped" % tests)
PY

# the image's class-data archive, made as the Dockerfile makes it, must be one the JVM maps
JAR=$(ls -t target/hypha-k8s-worker-*-fat.jar | head -1)
rm -f target/app.jsa
java -Xshare:dump -XX:SharedClassListFile=src/main/cds/classlist -XX:SharedArchiveFile=target/app.jsa -cp "$JAR" >target/app.jsa.log 2>&1 \
  || { echo "the class-data dump failed:"; tail -20 target/app.jsa.log; exit 1; }
java -Xshare:on -XX:SharedArchiveFile=target/app.jsa -XX:+PrintSharedArchiveAndExit -cp "$JAR" >target/app.jsa.contents 2>&1 \
  && grep -q "archive is valid" target/app.jsa.contents || { echo "the class-data archive does not map: target/app.jsa.contents"; exit 1; }
WORKER_CLASSES=$(grep -c " io\.hypha\.k8sworker\..* app_loader" target/app.jsa.contents || true)
[[ "$WORKER_CLASSES" -gt 0 ]] || { echo "the class-data archive holds none of the worker's classes"; exit 1; }
echo "class-data archive: $(du -m target/app.jsa | cut -f1) MiB, $WORKER_CLASSES of the worker's classes among $(grep -vc '^[#@]' src/main/cds/classlist) listed"

# the chart: lint, unit tests, server-side dry-run and an install into the local control plane
scripts/chart-test.sh
