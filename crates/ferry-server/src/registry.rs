//! The components a server offers, and how they change while it serves.
//!
//! Every request reads the components; changes are rare. So a set of components
//! is immutable and shared (`Arc<Components>`): a change builds a new set, checked
//! exactly as [`ServerBuilder::build`](crate::ServerBuilder::build) checks the
//! first one, and swaps it in. A request keeps the set it started with, so a tool
//! removed during a call still finishes that call. After a change the sessions of
//! this process hear `notifications/<kind>/list_changed`, and 2026-07-28 clients
//! that asked for it on `subscriptions/listen` too.
//!
//! Changes are per process: a `ferry worker` runs the components its own process
//! has, so a component added at runtime should be added wherever its tasks may run.

use crate::component::complete::Completers;
use crate::component::{Common, PromptDef, ResourceDef, ResourceTemplateDef, ToolDef, UriTemplate};
use crate::error::BuildError;
use crate::extract::{Describe, ErasedProvider};
use ferry_protocol::headers::{self, HeaderParam};
use ferry_protocol::types::ReadResourceResult;
use serde_json::{Map, Value};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// A resource template with its parsed form.
pub(crate) struct RegisteredTemplate {
    pub def: ResourceTemplateDef,
    pub parsed: UriTemplate,
}

/// The component definitions, as given (what a change edits).
#[derive(Clone, Default)]
pub(crate) struct Definitions {
    pub tools: Vec<ToolDef>,
    /// Jobs: tools no client sees, enqueued by handlers (`crate::jobs`).
    pub jobs: Vec<ToolDef>,
    pub prompts: Vec<PromptDef>,
    pub resources: Vec<ResourceDef>,
    pub templates: Vec<ResourceTemplateDef>,
}

/// One checked, indexed set of components.
pub(crate) struct Components {
    pub tools: Vec<ToolDef>,
    tool_index: HashMap<String, usize>,
    /// Each tool's `x-mcp-header` parameters (in the order of `tools`).
    header_params: Vec<Vec<HeaderParam>>,
    jobs: HashMap<String, ToolDef>,
    pub prompts: Vec<PromptDef>,
    prompt_index: HashMap<String, usize>,
    pub resources: Vec<ResourceDef>,
    resource_index: HashMap<String, usize>,
    pub templates: Vec<RegisteredTemplate>,
}

/// What handlers may inject, to check components against.
pub(crate) struct Injectables<'a> {
    pub states: &'a HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    pub providers: &'a HashMap<TypeId, ErasedProvider>,
}

impl Injectables<'_> {
    /// A handler's parameters are satisfiable. `prepared`: a prepare step runs before it.
    fn check(&self, component: String, d: &Describe, has_handler: bool, prepared: bool) -> Result<(), BuildError> {
        if !has_handler {
            return Err(BuildError::NoHandler { component });
        }
        if d.needs_prepared && !prepared {
            return Err(BuildError::NoPrepareStep { component });
        }
        if d.args_count > 1 {
            return Err(BuildError::TwoArgs { component });
        }
        if let Some((_, type_name)) = d.states.iter().find(|(id, _)| !self.states.contains_key(id)) {
            return Err(BuildError::MissingState { component, type_name });
        }
        if let Some((_, type_name)) = d.providers.iter().find(|(id, _)| !self.providers.contains_key(id)) {
            return Err(BuildError::MissingProvider { component, type_name });
        }
        Ok(())
    }
}

/// Completers must name an argument the component has.
fn check_completers(component: String, completers: &Completers, known: Vec<&str>) -> Result<(), BuildError> {
    match completers.iter().find(|(name, _)| !known.contains(&name.as_str())) {
        Some((argument, _)) => Err(BuildError::UnknownCompletionArgument {
            component,
            argument: argument.clone(),
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

impl Components {
    /// Check and index `defs`.
    pub fn new(defs: Definitions, inject: &Injectables<'_>) -> Result<Components, BuildError> {
        let mut tool_index = HashMap::new();
        let mut header_params = Vec::with_capacity(defs.tools.len());
        for (i, t) in defs.tools.iter().enumerate() {
            let params = headers::header_params(&t.input_schema())
                .map_err(|reason| BuildError::InvalidHeaderParam { tool: t.name.clone(), reason })?;
            header_params.push(params);
            if let Some(p) = &t.prepare {
                inject.check(format!("tool '{}' (prepare step)", t.name), &p.describe, true, false)?;
            }
            let component = format!("tool '{}'", t.name);
            inject.check(component, &t.common.describe, t.common.handler.is_some(), t.prepare.is_some())?;
            if tool_index.insert(t.name.clone(), i).is_some() {
                return Err(BuildError::Duplicate { kind: "tool", name: t.name.clone() });
            }
        }
        let mut jobs = HashMap::new();
        for j in defs.jobs {
            inject.check(format!("job '{}'", j.name), &j.common.describe, j.common.handler.is_some(), false)?;
            if j.prepare.is_some() {
                return Err(BuildError::JobWithPrepareStep { job: j.name.clone() });
            }
            let name = j.name.clone();
            if jobs.insert(name.clone(), j).is_some() {
                return Err(BuildError::Duplicate { kind: "job", name });
            }
        }
        let mut prompt_index = HashMap::new();
        for (i, p) in defs.prompts.iter().enumerate() {
            inject.check(format!("prompt '{}'", p.name), &p.common.describe, p.common.handler.is_some(), false)?;
            let arguments = p.listing().arguments;
            let known = arguments.iter().map(|a| a.name.as_str()).collect();
            check_completers(format!("prompt '{}'", p.name), &p.completers, known)?;
            if prompt_index.insert(p.name.clone(), i).is_some() {
                return Err(BuildError::Duplicate { kind: "prompt", name: p.name.clone() });
            }
        }
        let mut resource_index = HashMap::new();
        for (i, r) in defs.resources.iter().enumerate() {
            inject.check(format!("resource '{}'", r.uri), &r.common.describe, r.common.handler.is_some(), false)?;
            if resource_index.insert(r.uri.clone(), i).is_some() {
                return Err(BuildError::Duplicate { kind: "resource", name: r.uri.clone() });
            }
        }
        let mut templates: Vec<RegisteredTemplate> = Vec::new();
        for t in defs.templates {
            let component = format!("resource template '{}'", t.template);
            inject.check(component.clone(), &t.common.describe, t.common.handler.is_some(), false)?;
            if templates.iter().any(|r| r.def.template == t.template) {
                return Err(BuildError::Duplicate { kind: "resource template", name: t.template.clone() });
            }
            let parsed = UriTemplate::parse(&t.template)?;
            check_completers(component, &t.completers, parsed.variables().collect())?;
            templates.push(RegisteredTemplate { parsed, def: t });
        }
        Ok(Components {
            tools: defs.tools,
            tool_index,
            header_params,
            jobs,
            prompts: defs.prompts,
            prompt_index,
            resources: defs.resources,
            resource_index,
            templates,
        })
    }

    /// The definitions, to edit for a change.
    pub fn definitions(&self) -> Definitions {
        Definitions {
            tools: self.tools.clone(),
            jobs: self.jobs.values().cloned().collect(),
            prompts: self.prompts.clone(),
            resources: self.resources.clone(),
            templates: self.templates.iter().map(|t| t.def.clone()).collect(),
        }
    }

    pub fn tool(&self, name: &str) -> Option<&ToolDef> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// The job `name` (see `crate::jobs`).
    pub fn job(&self, name: &str) -> Option<&ToolDef> {
        self.jobs.get(name)
    }

    /// The `x-mcp-header` parameters of the tool `name` (none for an unknown tool).
    pub fn header_params(&self, name: &str) -> &[HeaderParam] {
        self.tool_index.get(name).map_or(&[], |&i| &self.header_params[i])
    }

    pub fn prompt(&self, name: &str) -> Option<&PromptDef> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// Whether a fixed resource has this URI.
    pub fn has_resource(&self, uri: &str) -> bool {
        self.resource_index.contains_key(uri)
    }

    /// The resource or template serving `uri`, and the template's variables.
    pub fn resolve_resource(&self, uri: &str) -> Option<(&Common<ReadResourceResult>, Map<String, Value>)> {
        if let Some(&i) = self.resource_index.get(uri) {
            return Some((&self.resources[i].common, Map::new()));
        }
        self.templates.iter().find_map(|t| t.parsed.matches(uri).map(|vars| (&t.def.common, vars)))
    }
}
