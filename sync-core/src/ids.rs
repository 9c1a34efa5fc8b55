//! Newtype identifiers. Records created offline get their final id at once:
//! clients mint UUIDv7 values with [`AccountId::new_v7`] and friends.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) identifier.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

uuid_id!(
    /// A key account.
    AccountId
);
uuid_id!(
    /// A visit to an account.
    VisitId
);
uuid_id!(
    /// A key person (contact) at an account.
    ContactId
);
uuid_id!(
    /// A user of the system (rep, manager, ...).
    UserId
);
uuid_id!(
    /// A sales team.
    TeamId
);
uuid_id!(
    /// A branch office, which holds teams.
    BranchId
);
uuid_id!(
    /// A sales opportunity (商机).
    OpportunityId
);
uuid_id!(
    /// An account plan (大客户计划).
    AccountPlanId
);
uuid_id!(
    /// A complaint, service request or question (投诉/服务).
    TicketId
);
uuid_id!(
    /// A callback to a customer (回访).
    CallbackId
);
uuid_id!(
    /// A contract (合同).
    ContractId
);
uuid_id!(
    /// A product of the catalogue (产品).
    ProductId
);
uuid_id!(
    /// A sales target (销售目标).
    TargetId
);
