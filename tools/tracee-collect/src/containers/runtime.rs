//! Names from the runtime that owns a container: its name, image, image
//! digest and Kubernetes pod, asked on a thread of its own so that no
//! event ever waits for an answer. Sources, in order: the runtime's API
//! socket (Docker's, and Podman's compatible one), then its state on disk
//! (containers/storage for Podman and CRI-O, Docker's container configs,
//! and the OCI bundle's annotations that containerd and CRI-O write).

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use wire::container::Runtime;

use super::http;

/// What the runtime said about a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub name: String,
    pub image: String,
    pub image_digest: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    pub sandbox: bool,
    /// Where the names came from (said in the container record).
    pub source: String,
}

/// The outcome of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Named(Names),
    /// Why the names are unknown.
    Unknown(String),
}

/// Where to ask.
#[derive(Clone, Debug)]
pub struct Sources {
    /// API sockets, by runtime (Tracee's defaults unless given).
    pub sockets: Vec<(Runtime, PathBuf)>,
    /// containers/storage's graph root (Podman, CRI-O).
    pub storage: PathBuf,
    /// Docker's data root.
    pub docker: PathBuf,
    /// containerd's task state (OCI bundles by namespace).
    pub containerd_tasks: PathBuf,
    /// How long one socket may take to answer.
    pub socket_deadline: Duration,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            sockets: vec![
                (
                    Runtime::Containerd,
                    "/var/run/containerd/containerd.sock".into(),
                ),
                (Runtime::Docker, "/var/run/docker.sock".into()),
                (Runtime::Crio, "/var/run/crio/crio.sock".into()),
                (Runtime::Podman, "/var/run/podman/podman.sock".into()),
            ],
            storage: "/var/lib/containers/storage".into(),
            docker: "/var/lib/docker".into(),
            containerd_tasks: "/run/containerd/io.containerd.runtime.v2.task".into(),
            socket_deadline: Duration::from_secs(2),
        }
    }
}

/// A lookup to make.
#[derive(Clone, Debug)]
pub struct Request {
    pub cgroup_id: u64,
    pub id: String,
    pub runtime: Runtime,
}

/// Lookups waiting at most: a flood of new containers is answered
/// "unknown" past it rather than queued without bound.
const QUEUE: usize = 256;
/// A socket that timed out is not asked again for this long (its
/// runtime's state on disk still is).
const SLOW_PAUSE: Duration = Duration::from_secs(30);
/// A container the runtime does not know yet (its cgroup came first) is
/// asked again once, after this.
const RETRY_AFTER: Duration = Duration::from_millis(300);
/// The most of a state file read.
const FILE_MAX: u64 = 64 << 20;

/// The lookup thread's two ends.
pub struct Lookups {
    tx: SyncSender<Request>,
    rx: Receiver<(Request, Answer)>,
}

impl Lookups {
    pub fn start(src: Sources) -> std::io::Result<Lookups> {
        let (tx, reqs) = mpsc::sync_channel::<Request>(QUEUE);
        let (done, rx) = mpsc::channel();
        thread::Builder::new()
            .name("container-lookup".into())
            .spawn(move || {
                let mut slow: HashMap<PathBuf, Instant> = HashMap::new();
                while let Ok(r) = reqs.recv() {
                    let mut a = lookup(&src, &mut slow, r.runtime, &r.id);
                    if matches!(a, Answer::Unknown(_)) {
                        thread::sleep(RETRY_AFTER);
                        a = lookup(&src, &mut slow, r.runtime, &r.id);
                    }
                    if done.send((r, a)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Lookups { tx, rx })
    }

    /// Queues a lookup; gives it back if the queue is full.
    pub fn ask(&self, r: Request) -> Result<(), Request> {
        match self.tx.try_send(r) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) => Err(r),
        }
    }

    /// Answers that arrived, without waiting.
    pub fn answers(&self) -> impl Iterator<Item = (Request, Answer)> + '_ {
        self.rx.try_iter()
    }
}

/// Container ids are hex (or Garden's dashed hex); anything else came from
/// a cgroup name someone else chose and is not put in a URL or a path.
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

/// Asks every source that may know container `id`, in order.
pub fn lookup(
    src: &Sources,
    slow: &mut HashMap<PathBuf, Instant>,
    runtime: Runtime,
    id: &str,
) -> Answer {
    if !plausible_id(id) {
        return Answer::Unknown("the id has bytes no runtime uses; not looked up".into());
    }
    let mut why: Vec<String> = Vec::new();
    let mine = |rt: Runtime| runtime == Runtime::Unknown || rt == runtime;
    for (rt, sock) in &src.sockets {
        // containerd's and CRI-O's sockets speak gRPC, not this API.
        if !mine(*rt) || !matches!(rt, Runtime::Docker | Runtime::Podman) {
            continue;
        }
        if !sock.exists() {
            continue;
        }
        if slow.get(sock).is_some_and(|t| t.elapsed() < SLOW_PAUSE) {
            why.push(format!("{} timed out recently, not asked", sock.display()));
            continue;
        }
        match docker_api(sock, id, src.socket_deadline) {
            Ok(mut n) => {
                n.source = format!("{} API at {}", rt.name(), sock.display());
                return Answer::Named(n);
            }
            Err(e) => {
                if matches!(e, http::HttpError::Timeout(_)) {
                    slow.insert(sock.clone(), Instant::now());
                }
                why.push(format!("{}: {e}", sock.display()));
            }
        }
    }
    // State on disk: (whose it is, where, how it is read, what it is).
    type Reader = fn(&Path, &str) -> Result<Names, String>;
    let disk: [(bool, &Path, Reader, &str); 3] = [
        (
            mine(Runtime::Podman) || mine(Runtime::Crio),
            &src.storage,
            storage_state,
            "containers/storage",
        ),
        (
            mine(Runtime::Docker),
            &src.docker,
            docker_state,
            "docker's state",
        ),
        (
            mine(Runtime::Containerd),
            &src.containerd_tasks,
            containerd_state,
            "containerd's bundle",
        ),
    ];
    for (wanted, at, read, what) in disk {
        if !wanted {
            continue;
        }
        match read(at, id) {
            Ok(mut n) => {
                n.source = format!("{what} at {}", at.display());
                return Answer::Named(n);
            }
            Err(e) => why.push(e),
        }
    }
    if why.is_empty() {
        why.push(format!("no {} runtime state found", runtime.name()));
    }
    Answer::Unknown(why.join("; "))
}

fn read_json(p: &Path) -> Result<Value, String> {
    let f = fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut b = Vec::new();
    f.take(FILE_MAX)
        .read_to_end(&mut b)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", p.display()))
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut v = v;
    for k in path {
        match v.get(k) {
            Some(x) => v = x,
            None => return String::new(),
        }
    }
    v.as_str().unwrap_or_default().to_string()
}

fn first(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|x| x.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The pod fields Kubernetes puts in a container's labels or annotations.
fn pod_fields(n: &mut Names, labels: &Value) {
    let get = |k: &str| labels.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let or = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    n.pod_name = or(
        get("io.kubernetes.pod.name"),
        get("io.kubernetes.cri.sandbox-name"),
    );
    n.pod_namespace = or(
        get("io.kubernetes.pod.namespace"),
        get("io.kubernetes.cri.sandbox-namespace"),
    );
    n.pod_uid = or(
        get("io.kubernetes.pod.uid"),
        get("io.kubernetes.cri.sandbox-uid"),
    );
    n.sandbox = get("io.kubernetes.docker.type") == "sandbox"
        || get("io.kubernetes.cri.container-type") == "sandbox"
        || get("io.kubernetes.cri-o.ContainerType") == "sandbox"
        || get("io.cri-containerd.kind") == "sandbox";
}

/// Docker's API (Podman serves the same): the container, then its image
/// for the tag and digest, as Tracee reads them.
fn docker_api(sock: &Path, id: &str, deadline: Duration) -> Result<Names, http::HttpError> {
    let body = http::get(sock, &format!("/containers/{id}/json"), deadline)?;
    let c: Value =
        serde_json::from_slice(&body).map_err(|e| http::HttpError::Bad(e.to_string()))?;
    let mut n = Names {
        name: s(&c, &["Name"]).trim_start_matches('/').to_string(),
        image: s(&c, &["Config", "Image"]),
        ..Default::default()
    };
    if let Some(l) = c.get("Config").and_then(|c| c.get("Labels")) {
        pod_fields(&mut n, l);
    }
    let image_id = s(&c, &["Image"]);
    if plausible_id(image_id.trim_start_matches("sha256:"))
        && let Ok(b) = http::get(sock, &format!("/images/{image_id}/json"), deadline)
        && let Ok(i) = serde_json::from_slice::<Value>(&b)
    {
        let tag = first(&i, "RepoTags");
        if !tag.is_empty() {
            n.image = tag;
        }
        n.image_digest = first(&i, "RepoDigests");
    }
    Ok(n)
}

/// An image name without its tag (`localhost/x:1` is `localhost/x`; a
/// registry's port is not a tag).
fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(c) if !image[c..].contains('/') => &image[..c],
        _ => image,
    }
}

/// containers/storage (Podman, CRI-O): `<driver>-containers/containers.json`
/// names the container and its image; `<driver>-images/images.json` has the
/// image's digest; the OCI config in the container's `userdata` has the
/// Kubernetes annotations CRI-O writes.
fn storage_state(root: &Path, id: &str) -> Result<Names, String> {
    let entries = fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for e in entries.flatten() {
        let dir = e.file_name();
        let Some(driver) = dir.to_str().and_then(|d| d.strip_suffix("-containers")) else {
            continue;
        };
        let list = read_json(&e.path().join("containers.json"))?;
        let Some(c) = list.as_array().and_then(|a| {
            a.iter()
                .find(|c| c.get("id").and_then(|v| v.as_str()) == Some(id))
        }) else {
            continue;
        };
        let meta: Value = c
            .get("metadata")
            .and_then(|m| m.as_str())
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(Value::Null);
        let mut n = Names {
            name: first(c, "names"),
            image: s(&meta, &["image-name"]),
            ..Default::default()
        };
        let image_id = c.get("image").and_then(|v| v.as_str()).unwrap_or_default();
        if let Ok(images) = read_json(&root.join(format!("{driver}-images/images.json")))
            && let Some(i) = images.as_array().and_then(|a| {
                a.iter()
                    .find(|i| i.get("id").and_then(|v| v.as_str()) == Some(image_id))
            })
        {
            if n.image.is_empty() {
                n.image = first(i, "names");
            }
            let digest = s(i, &["digest"]);
            if !digest.is_empty() && !n.image.is_empty() {
                n.image_digest = format!("{}@{digest}", repository(&n.image));
            }
        }
        if let Ok(cfg) = read_json(&e.path().join(id).join("userdata/config.json"))
            && let Some(a) = cfg.get("annotations")
        {
            pod_fields(&mut n, a);
            let k8s_name = s(a, &["io.kubernetes.container.name"]);
            if !k8s_name.is_empty() {
                n.name = k8s_name;
            }
        }
        return Ok(n);
    }
    Err(format!("{} does not list it", root.display()))
}

/// Docker's own record of a container.
fn docker_state(root: &Path, id: &str) -> Result<Names, String> {
    let c = read_json(&root.join("containers").join(id).join("config.v2.json"))?;
    let mut n = Names {
        name: s(&c, &["Name"]).trim_start_matches('/').to_string(),
        image: s(&c, &["Config", "Image"]),
        ..Default::default()
    };
    if let Some(l) = c.get("Config").and_then(|c| c.get("Labels")) {
        pod_fields(&mut n, l);
    }
    Ok(n)
}

/// containerd's OCI bundle: the annotations its CRI plugin writes.
fn containerd_state(tasks: &Path, id: &str) -> Result<Names, String> {
    let nss = fs::read_dir(tasks).map_err(|e| format!("{}: {e}", tasks.display()))?;
    for ns in nss.flatten() {
        let p = ns.path().join(id).join("config.json");
        if !p.exists() {
            continue;
        }
        let cfg = read_json(&p)?;
        let a = cfg.get("annotations").cloned().unwrap_or(Value::Null);
        let mut n = Names {
            name: s(&a, &["io.kubernetes.cri.container-name"]),
            image: s(&a, &["io.kubernetes.cri.image-name"]),
            ..Default::default()
        };
        pod_fields(&mut n, &a);
        return Ok(n);
    }
    Err(format!("{} has no bundle for it", tasks.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "94c82f2e2e6389476ff39db60e70092f43c9fa02760daae67a924d3c48320bb4";

    fn tmp() -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("tracee-rt-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        p
    }

    fn sources(root: &Path) -> Sources {
        Sources {
            sockets: vec![],
            storage: root.join("storage"),
            docker: root.join("docker"),
            containerd_tasks: root.join("tasks"),
            socket_deadline: Duration::from_millis(200),
        }
    }

    #[test]
    fn podman_state_on_disk() {
        let root = tmp();
        let st = root.join("storage");
        fs::create_dir_all(st.join("overlay-containers")).unwrap();
        fs::create_dir_all(st.join("overlay-images")).unwrap();
        fs::write(
            st.join("overlay-containers/containers.json"),
            format!(
                r#"[{{"id":"{ID}","names":["web"],"image":"821c","metadata":"{{\"image-name\":\"localhost/tr-busybox:1\",\"name\":\"web\"}}"}}]"#
            ),
        )
        .unwrap();
        fs::write(
            st.join("overlay-images/images.json"),
            r#"[{"id":"821c","digest":"sha256:b827","names":["localhost/tr-busybox:1"]}]"#,
        )
        .unwrap();
        let a = lookup(&sources(&root), &mut HashMap::new(), Runtime::Podman, ID);
        assert_eq!(
            a,
            Answer::Named(Names {
                name: "web".into(),
                image: "localhost/tr-busybox:1".into(),
                image_digest: "localhost/tr-busybox@sha256:b827".into(),
                source: format!("containers/storage at {}", root.join("storage").display()),
                ..Default::default()
            })
        );
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn containerd_annotations() {
        let root = tmp();
        let b = root.join("tasks/k8s.io").join(ID);
        fs::create_dir_all(&b).unwrap();
        fs::write(
            b.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.image-name":"nginx:1","io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"prod","io.kubernetes.cri.sandbox-uid":"u-1","io.kubernetes.cri.container-type":"sandbox"}}"#,
        )
        .unwrap();
        let a = lookup(
            &sources(&root),
            &mut HashMap::new(),
            Runtime::Containerd,
            ID,
        );
        assert_eq!(
            a,
            Answer::Named(Names {
                name: "app".into(),
                image: "nginx:1".into(),
                pod_name: "web-0".into(),
                pod_namespace: "prod".into(),
                pod_uid: "u-1".into(),
                sandbox: true,
                source: format!("containerd's bundle at {}", root.join("tasks").display()),
                ..Default::default()
            })
        );
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn unknown_says_why_and_odd_ids_are_not_looked_up() {
        let root = tmp();
        let a = lookup(&sources(&root), &mut HashMap::new(), Runtime::Docker, ID);
        let Answer::Unknown(why) = a else {
            panic!("{a:?}")
        };
        assert!(why.contains("config.v2.json"), "{why}");
        for odd in ["../../etc", "a/b", "x\ny", "", ".hidden", "a?b=c"] {
            assert!(matches!(
                lookup(&sources(&root), &mut HashMap::new(), Runtime::Docker, odd),
                Answer::Unknown(w) if w.contains("not looked up")
            ));
        }
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn docker_state_on_disk() {
        let root = tmp();
        let d = root.join("docker/containers").join(ID);
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join("config.v2.json"),
            r#"{"Name":"/web-1","Config":{"Image":"nginx:1.27","Labels":{"io.kubernetes.pod.name":"web","io.kubernetes.pod.namespace":"prod","io.kubernetes.pod.uid":"u-9","io.kubernetes.docker.type":"sandbox"}}}"#,
        )
        .unwrap();
        let a = lookup(&sources(&root), &mut HashMap::new(), Runtime::Docker, ID);
        assert_eq!(
            a,
            Answer::Named(Names {
                name: "web-1".into(),
                image: "nginx:1.27".into(),
                pod_name: "web".into(),
                pod_namespace: "prod".into(),
                pod_uid: "u-9".into(),
                sandbox: true,
                source: format!("docker's state at {}", root.join("docker").display()),
                ..Default::default()
            })
        );
        let _ = fs::remove_dir_all(root);
    }

    /// CRI-O keeps its containers in containers/storage too, with the
    /// Kubernetes names in the OCI config's annotations.
    #[test]
    fn crio_state_on_disk() {
        let root = tmp();
        let st = root.join("storage");
        let ud = st.join("overlay-containers").join(ID).join("userdata");
        fs::create_dir_all(&ud).unwrap();
        fs::write(
            st.join("overlay-containers/containers.json"),
            format!(r#"[{{"id":"{ID}","names":["k8s_app_web-0_prod_u-1_0"],"image":"9f","metadata":"{{\"image-name\":\"registry/app:2\"}}"}}]"#),
        )
        .unwrap();
        fs::write(
            ud.join("config.json"),
            r#"{"annotations":{"io.kubernetes.container.name":"app","io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"prod","io.kubernetes.pod.uid":"u-1","io.kubernetes.cri-o.ContainerType":"container"}}"#,
        )
        .unwrap();
        let Answer::Named(n) = lookup(&sources(&root), &mut HashMap::new(), Runtime::Crio, ID)
        else {
            panic!()
        };
        assert_eq!(
            (
                n.name.as_str(),
                n.image.as_str(),
                n.pod_name.as_str(),
                n.sandbox
            ),
            ("app", "registry/app:2", "web-0", false)
        );
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn repositories() {
        assert_eq!(repository("localhost/x:1"), "localhost/x");
        assert_eq!(repository("reg:5000/x"), "reg:5000/x");
        assert_eq!(repository("reg:5000/x:2"), "reg:5000/x");
        assert_eq!(repository("x@sha256:ab"), "x");
    }
}
