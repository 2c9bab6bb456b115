//! Typed Ansible YAML: plays, tasks and an ordered map, serialized with
//! [`crate::emit::yaml`].

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// A map that keeps insertion order (hosts in the order the IR expands
/// them: `gw1`, `gw2`, …, `gw10`, not sorted as strings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Ordered<T> {
    pub fn new() -> Self {
        Ordered(Vec::new())
    }
    pub fn push(&mut self, key: impl Into<String>, value: T) {
        self.0.push((key.into(), value));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One task: `name`, the module with its arguments, then keywords in the
/// order they were added.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub module: &'static str,
    pub args: Value,
    pub keywords: Vec<(&'static str, Value)>,
}

/// A task calling `module` with `args` (a `json!` object; key order kept).
pub fn task(name: &str, module: &'static str, args: Value) -> Task {
    Task {
        name: name.to_string(),
        module,
        args,
        keywords: Vec::new(),
    }
}

impl Task {
    pub fn kw(mut self, key: &'static str, value: impl Into<Value>) -> Task {
        self.keywords.push((key, value.into()));
        self
    }
    /// Adds `cond` to the task's `when:` (a list of conditions, all of
    /// which must hold, once there are two).
    pub fn when(mut self, cond: &str) -> Task {
        let cond = Value::String(cond.to_string());
        if let Some((_, existing)) = self.keywords.iter_mut().find(|(k, _)| *k == "when") {
            match existing {
                Value::Array(all) => all.push(cond),
                other => *other = Value::Array(vec![other.take(), cond]),
            }
            return self;
        }
        self.kw("when", cond)
    }
    pub fn register(self, var: &str) -> Task {
        self.kw("register", var)
    }
    pub fn notify(self, handler: &str) -> Task {
        self.kw("notify", handler)
    }
    pub fn no_log(self) -> Task {
        self.kw("no_log", true)
    }
    pub fn changed_when(self, v: impl Into<Value>) -> Task {
        self.kw("changed_when", v)
    }
    pub fn with_loop(self, v: impl Into<Value>) -> Task {
        self.kw("loop", v)
    }
    /// `loop_control: { label: … }`, so logs show a name, not the item.
    pub fn label(self, label: &str) -> Task {
        let mut m = Map::new();
        m.insert("label".into(), Value::String(label.into()));
        self.kw("loop_control", Value::Object(m))
    }
    pub fn delegate_to(self, host: &str) -> Task {
        self.kw("delegate_to", host)
    }
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2 + self.keywords.len()))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry(self.module, &self.args)?;
        for (k, v) in &self.keywords {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A role in a play's `roles:` list, with optional role parameters.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleRef {
    pub role: String,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub vars: Ordered<Value>,
}

pub fn role(name: &str) -> RoleRef {
    RoleRef {
        role: name.to_string(),
        vars: Ordered::new(),
    }
}

impl RoleRef {
    pub fn var(mut self, k: &str, v: impl Into<Value>) -> RoleRef {
        self.vars.push(k, v.into());
        self
    }
}

/// One play of a playbook.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Play {
    pub name: String,
    /// A pattern (`k3s_init`), or a list of hosts run in its order.
    pub hosts: Value,
    /// Hosts per batch; with `max_fail_percentage: 0` the play stops at
    /// the first failed batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_fail_percentage: Option<u32>,
    #[serde(rename = "become", skip_serializing_if = "Option::is_none")]
    pub become_: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gather_facts: Option<bool>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub vars: Ordered<Value>,
    /// Run before `roles`; handlers are flushed between the sections, so
    /// a role's restart happens before `post_tasks`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_tasks: Vec<Task>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_tasks: Vec<Task>,
}

pub fn play(name: &str, hosts: &str) -> Play {
    Play {
        name: name.to_string(),
        hosts: Value::String(hosts.to_string()),
        serial: None,
        max_fail_percentage: None,
        become_: None,
        gather_facts: None,
        vars: Ordered::new(),
        pre_tasks: Vec::new(),
        roles: Vec::new(),
        tasks: Vec::new(),
        post_tasks: Vec::new(),
    }
}

impl Play {
    /// Every task of this play changes the system (packages, units, files
    /// under /etc): escalate once for the play.
    pub fn become_root(mut self) -> Play {
        self.become_ = Some(true);
        self
    }
    pub fn no_facts(mut self) -> Play {
        self.gather_facts = Some(false);
        self
    }
    pub fn role(mut self, r: RoleRef) -> Play {
        self.roles.push(r);
        self
    }
    pub fn task(mut self, t: Task) -> Play {
        self.tasks.push(t);
        self
    }
    pub fn pre_task(mut self, t: Task) -> Play {
        self.pre_tasks.push(t);
        self
    }
    pub fn post_task(mut self, t: Task) -> Play {
        self.post_tasks.push(t);
        self
    }
    pub fn var(mut self, k: &str, v: impl Into<Value>) -> Play {
        self.vars.push(k, v.into());
        self
    }
    /// These hosts, in this order (a play's hosts keep the order of its
    /// host list).
    pub fn host_list(mut self, hosts: &[String]) -> Play {
        self.hosts = Value::Array(hosts.iter().cloned().map(Value::String).collect());
        self
    }
    /// One host at a time, and stop at the first failure.
    pub fn one_at_a_time(mut self) -> Play {
        self.serial = Some(1);
        self.max_fail_percentage = Some(0);
        self
    }
}

/// An entry of `site.yml`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Import {
    pub name: String,
    #[serde(rename = "ansible.builtin.import_playbook")]
    pub import_playbook: String,
}
