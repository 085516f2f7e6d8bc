// A real Kubernetes API server for tests: etcd and kube-apiserver, built by `npm run real:build`,
// on 127.0.0.1 on free ports, with data directories, a serving certificate and an admin client
// certificate made for the run. Ready when /readyz answers; both processes stop and the files go
// in `stop()`, and also when the test process ends (see test/support/processes.ts).
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { realBinary } from "./bench";
import { KubeClient } from "./kube";
import { BenchProcess, freePort, removeDir, tempDir, waitFor } from "../../support/processes";

/** How long etcd and kube-apiserver together may take to become ready. */
const START_TIMEOUT_MS = 90_000;

export interface ApiServer {
  readonly client: KubeClient;
  /** A kubeconfig for the admin credential, for tools that take one. */
  readonly kubeconfig: string;
  /** The run's directory (PKI, data, logs); gone after stop(). */
  readonly dir: string;
  /** etcd's and kube-apiserver's process ids. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * The run's PKI, in `dir`: a CA, kube-apiserver's serving certificate (localhost, 127.0.0.1),
 * an admin client certificate in group system:masters, and the service-account signing key.
 */
function makeCertificates(dir: string): void {
  const days = ["-days", "2"];
  openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
  openssl(dir, [
    "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=thanos-bridge bench CA",
    ...days, "-out", "ca.crt",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]); // prettier-ignore
  const issue = (name: string, subject: string, extensions: string) => {
    openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`]);
    openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(dir, [
      "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key",
      "-CAcreateserial", ...days, "-extfile", `${name}.ext`, "-out", `${name}.crt`,
    ]); // prettier-ignore
  };
  issue(
    "apiserver",
    "/CN=kube-apiserver",
    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  issue(
    "admin",
    "/O=system:masters/CN=bench-admin",
    "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
  );
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
}

export interface ApiServerOptions {
  /** More kube-apiserver flags (a test passes a bad one to see the failure report). */
  readonly extraArgs?: readonly string[];
  /**
   * Also run kube-controller-manager, whose garbage collector and namespace controller finish
   * deletions as in a cluster (the Kubernetes provider waits for them).
   */
  readonly controllerManager?: boolean;
}

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const dir = tempDir("apiserver");
  const processes: BenchProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.reverse().map((p) => p.stop()));
    removeDir(dir);
  };
  try {
    makeCertificates(dir);
    const [client, peer, secure] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${client}`;
    const etcd = BenchProcess.start(
      "etcd",
      realBinary("etcd"),
      [
        "--name=bench",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=bench=http://127.0.0.1:${peer}`,
        // A bench's data is thrown away: durability only costs time.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      dir,
    );
    processes.push(etcd);
    const apiserver = BenchProcess.start(
      "kube-apiserver",
      realBinary("kube-apiserver"),
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${secure}`,
        `--cert-dir=${dir}`,
        `--tls-cert-file=${join(dir, "apiserver.crt")}`,
        `--tls-private-key-file=${join(dir, "apiserver.key")}`,
        `--client-ca-file=${join(dir, "ca.crt")}`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        // Only an allocation range for Service IPs: nothing is routed.
        "--service-cluster-ip-range=10.96.0.0/16",
        "--profiling=false",
        ...(options.extraArgs ?? []),
      ],
      dir,
    );
    processes.push(apiserver);
    const kube = new KubeClient({
      url: `https://127.0.0.1:${secure}`,
      ca: readFileSync(join(dir, "ca.crt"), "utf8"),
      cert: readFileSync(join(dir, "admin.crt"), "utf8"),
      key: readFileSync(join(dir, "admin.key"), "utf8"),
    });
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await kube.call<string>("GET", "/readyz")).body === "ok",
      processes,
      START_TIMEOUT_MS,
    );
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kubeconfigYaml(kube));
    if (options.controllerManager === true) {
      const manager = BenchProcess.start(
        "kube-controller-manager",
        realBinary("kube-controller-manager"),
        [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          "--bind-address=127.0.0.1",
          `--secure-port=${await freePort()}`,
          `--cert-dir=${join(dir, "kcm")}`,
          `--service-account-private-key-file=${join(dir, "sa.key")}`,
          `--root-ca-file=${join(dir, "ca.crt")}`,
          "--leader-elect=false",
          "--profiling=false",
          // What deletions need; no node, so nothing that manages nodes or volumes.
          "--controllers=garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,serviceaccount-controller",
        ],
        dir,
      );
      processes.push(manager);
      // Its service-account controller making the default namespace's account shows that its
      // controllers have started.
      await waitFor(
        "kube-controller-manager's controllers",
        () =>
          kube.call("GET", "/api/v1/namespaces/default/serviceaccounts/default").then(
            () => true,
            () => false,
          ),
        processes,
        START_TIMEOUT_MS,
      );
    }
    const pids = processes.map((p) => p.child.pid ?? -1);
    return { client: kube, kubeconfig, dir, pids, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function kubeconfigYaml(kube: KubeClient): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const { url, ca, cert, key } = kube.credentials;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "bench", cluster: { server: url, "certificate-authority-data": b64(ca) } }],
    users: [
      {
        name: "admin",
        user: { "client-certificate-data": b64(cert), "client-key-data": b64(key) },
      },
    ],
    contexts: [{ name: "bench", context: { cluster: "bench", user: "admin" } }],
    "current-context": "bench",
  });
}
