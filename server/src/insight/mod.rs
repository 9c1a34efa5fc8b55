//! What managers act on, computed by the server from the materialized rows:
//! account health and warnings (流失预警), the visit cadence per tier and
//! effective visits (有效拜访), kept current at every write and by a sweep
//! that runs once per interval across every node sharing the database.

pub mod refresh;
pub mod settings;
pub mod signals;
pub mod sweep;
