//! Who else an incident needs: the layer that failed and the owner to ask in, and the roles
//! of the people running the response (commander, comms, scribe). Plain data: the config
//! names owners, the state decides, the backends carry the request.

use super::IncidentType;
use std::fmt;

/// The layers an AI incident fails in; each is owned by a different kind of engineer (ML for
/// the model, whoever ships prompts, data for retrieval, software for the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Model,
    Prompt,
    Data,
    Infrastructure,
}

impl Layer {
    pub const ALL: [Layer; 4] = [
        Layer::Model,
        Layer::Prompt,
        Layer::Data,
        Layer::Infrastructure,
    ];

    /// The key in `[alerts.layers]` and the word on screen.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Model => "model",
            Layer::Prompt => "prompt",
            Layer::Data => "data",
            Layer::Infrastructure => "infrastructure",
        }
    }

    /// The layer a type of incident most often fails in, until the runbook's "which layer"
    /// answer says otherwise (docs/incidents.md, Who to ask in). `Other` names none: an alert
    /// without a type says nothing about where it broke.
    pub fn of_type(kind: IncidentType) -> Option<Layer> {
        Some(match kind {
            IncidentType::CapabilityDrift
            | IncidentType::EvalRegression
            | IncidentType::OverRefusal
            | IncidentType::GuardrailBypass => Layer::Prompt,
            IncidentType::RetrievalDegradation => Layer::Data,
            IncidentType::CostExplosion
            | IncidentType::LatencyDegradation
            | IncidentType::Errors => Layer::Infrastructure,
            IncidentType::Other => return None,
        })
    }

    /// The layer a runbook answer names by its first word ("prompt: v13 deployed 3m before
    /// detection", "data/retrieval: …", "infra"); None for "unclear" or anything else.
    pub fn from_answer(answer: &str) -> Option<Layer> {
        let first: String = answer
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        Some(match first.as_str() {
            "model" | "models" => Layer::Model,
            "prompt" | "prompts" => Layer::Prompt,
            "data" | "retrieval" | "rag" | "index" => Layer::Data,
            "infra" | "infrastructure" | "platform" | "serving" => Layer::Infrastructure,
            _ => return None,
        })
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whom PagerDuty asks in: a user, or everyone an escalation policy has on call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderTarget {
    User(String),
    EscalationPolicy(String),
}

impl ResponderTarget {
    pub fn id(&self) -> &str {
        match self {
            ResponderTarget::User(id) | ResponderTarget::EscalationPolicy(id) => id,
        }
    }

    /// PagerDuty's reference type for it in `responder_request_targets`.
    pub fn reference_type(&self) -> &'static str {
        match self {
            ResponderTarget::User(_) => "user_reference",
            ResponderTarget::EscalationPolicy(_) => "escalation_policy_reference",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ResponderTarget::User(id) => format!("PagerDuty user {id}"),
            ResponderTarget::EscalationPolicy(id) => format!("PagerDuty escalation policy {id}"),
        }
    }
}

/// The roles of an incident response, as incident commanders name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Commander,
    Comms,
    Scribe,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Commander, Role::Comms, Role::Scribe];

    pub fn name(self) -> &'static str {
        match self {
            Role::Commander => "commander",
            Role::Comms => "comms",
            Role::Scribe => "scribe",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Some(match name.to_lowercase().as_str() {
            "commander" | "ic" => Role::Commander,
            "comms" | "communications" => Role::Comms,
            "scribe" => Role::Scribe,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_answer_names_its_layer_by_its_first_word() {
        assert_eq!(
            Layer::from_answer("prompt: v13 deployed 3m before detection"),
            Some(Layer::Prompt)
        );
        assert_eq!(
            Layer::from_answer("data/retrieval: hit rate fell"),
            Some(Layer::Data)
        );
        assert_eq!(
            Layer::from_answer("Model: gpt-4o changed"),
            Some(Layer::Model)
        );
        assert_eq!(
            Layer::from_answer("infra, the GPU pool"),
            Some(Layer::Infrastructure)
        );
        assert_eq!(Layer::from_answer("unclear: no change"), None);
        assert_eq!(Layer::from_answer(""), None);
    }

    #[test]
    fn every_typed_incident_has_a_layer_and_other_has_none() {
        for kind in IncidentType::ALL {
            assert_eq!(
                Layer::of_type(kind).is_none(),
                kind == IncidentType::Other,
                "{kind:?}"
            );
        }
    }
}
