//! Roles and what each may do in general (record-level scope lives in `access`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System administrator: everything, users, settings.
    Admin,
    /// 业务部经理: every account of their branch, or of the org without a branch.
    Director,
    /// 销售经理: the accounts of the teams they lead; assigns owners, confirms tiers.
    Manager,
    /// 客户经理/业务员: the accounts they own or are shared on.
    Rep,
    /// 客服: reads accounts; works tickets and callbacks.
    Service,
}

impl Role {
    /// Stable code, as stored and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Director => "director",
            Self::Manager => "manager",
            Self::Rep => "rep",
            Self::Service => "service",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "admin" => Some(Self::Admin),
            "director" => Some(Self::Director),
            "manager" => Some(Self::Manager),
            "rep" => Some(Self::Rep),
            "service" => Some(Self::Service),
            _ => None,
        }
    }

    /// Managers and above: assign owners, confirm tiers.
    pub fn supervises(self) -> bool {
        matches!(self, Self::Admin | Self::Director | Self::Manager)
    }
}
