//! One end-to-end test's world, set up in one expression: the local AWS
//! ([`Stack`]), the distributions the test names, a fault proxy in front of
//! CloudFront when it asks for one, and the function with its settings.
//!
//! ```ignore
//! let world = Setup::new()
//!     .distributions(2)
//!     .faults(|ids| vec![Rule::creates_at(&ids[0], Fault::TOO_MANY_IN_PROGRESS)])
//!     .start()
//!     .await;
//! ```

use super::Stack;
use super::fault_proxy::{FaultProxy, Rule};
use std::time::Duration;

/// The bucket of the sample events.
pub const SITE: &str = "example-static-site";

type Faults = Box<dyn FnOnce(&[String]) -> Vec<Rule>>;

/// What to start; [`Setup::start`] starts it.
#[must_use]
pub struct Setup {
    /// (bucket, origin path) of each distribution, in order.
    distributions: Vec<(String, String)>,
    /// The proxy's rules, made from the distributions' IDs; `None`: no proxy.
    faults: Option<Faults>,
    hold: Option<Duration>,
    env: Vec<(String, String)>,
}

/// What [`Setup::start`] started; derefs to its [`Stack`].
pub struct World {
    stack: Stack,
    /// The distributions' IDs, in the order the setup named them.
    ids: Vec<String>,
    proxy: Option<FaultProxy>,
}

impl std::ops::Deref for World {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }
}

impl Default for Setup {
    fn default() -> Setup {
        Setup::new()
    }
}

impl Setup {
    pub fn new() -> Setup {
        Setup {
            distributions: Vec::new(),
            faults: None,
            hold: None,
            env: Vec::new(),
        }
    }

    /// A distribution with one S3 origin on `bucket` at `origin_path`.
    pub fn distribution(mut self, bucket: &str, origin_path: &str) -> Setup {
        self.distributions
            .push((bucket.to_owned(), origin_path.to_owned()));
        self
    }

    /// `n` distributions of the sample events' bucket, no origin path.
    pub fn distributions(self, n: usize) -> Setup {
        (0..n).fold(self, |setup, _| setup.distribution(SITE, ""))
    }

    /// A fault proxy in front of CloudFront, with the rules `faults` makes
    /// from the distributions' IDs, set before the function starts.
    pub fn faults(mut self, faults: impl FnOnce(&[String]) -> Vec<Rule> + 'static) -> Setup {
        self.faults = Some(Box::new(faults));
        self
    }

    /// A fault proxy in front of CloudFront, faulting nothing: it keeps
    /// CloudFront's in-progress limits and the caller references.
    pub fn proxy(self) -> Setup {
        self.faults(|_| Vec::new())
    }

    /// A proxy that keeps every invalidation in progress for `hold`.
    pub fn hold(mut self, hold: Duration) -> Setup {
        self.hold = Some(hold);
        if self.faults.is_none() {
            self = self.proxy();
        }
        self
    }

    /// One of the function's settings. `DISTRIBUTION_IDS` is the
    /// distributions' IDs, comma-separated, unless set here.
    pub fn env(mut self, name: &str, value: &str) -> Setup {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the stack, creates the distributions and the proxy, and starts
    /// the function (under the emulator, CloudFront through the proxy if any).
    pub async fn start(self) -> World {
        let env = self.env.clone();
        let mut world = self.start_without_function().await;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        world.start_function(&env);
        world
    }

    /// Like [`Setup::start`], without starting the function (for a test that
    /// runs it another way).
    pub async fn start_without_function(self) -> World {
        let stack = Stack::start().await;
        let mut ids = Vec::new();
        for (bucket, origin_path) in &self.distributions {
            ids.push(stack.create_distribution(bucket, origin_path).await);
        }
        let proxy = self
            .faults
            .map(|faults| FaultProxy::start(stack.moto_port, faults(&ids)));
        if let (Some(proxy), Some(hold)) = (&proxy, self.hold) {
            proxy.hold(hold);
        }
        World { stack, ids, proxy }
    }
}

impl World {
    /// The distributions' IDs, in the order the setup named them:
    /// `let [first, second] = world.ids();`.
    pub fn ids<const N: usize>(&self) -> [String; N] {
        self.ids
            .clone()
            .try_into()
            .unwrap_or_else(|ids: Vec<String>| panic!("{N} distributions asked for, {} set up", ids.len()))
    }

    /// The fault proxy; a test that asked for none has a bug.
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("Setup::faults, proxy or hold starts a proxy")
    }

    /// The port the function reaches CloudFront on: the proxy's, if any.
    pub fn cloudfront_port(&self) -> u16 {
        self.proxy.as_ref().map_or(self.stack.moto_port, |p| p.port)
    }

    /// `DISTRIBUTION_IDS` as the function gets it by default.
    pub fn ids_setting(&self) -> String {
        self.ids.join(",")
    }

    /// (Re)starts the function with `env`; `DISTRIBUTION_IDS` is
    /// [`World::ids_setting`] unless `env` sets it.
    pub fn start_function(&mut self, env: &[(&str, &str)]) {
        let ids = self.ids_setting();
        let mut all = env.to_vec();
        if !all.iter().any(|(k, _)| *k == "DISTRIBUTION_IDS") {
            all.push(("DISTRIBUTION_IDS", &ids));
        }
        let port = self.cloudfront_port();
        self.stack.start_function_via(port, &all);
    }
}
