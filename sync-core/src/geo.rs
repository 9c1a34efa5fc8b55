//! GPS positions and distances on the ground.

use crate::error::Violation;
use serde::{Deserialize, Serialize};

/// A WGS 84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl GeoPoint {
    /// Great-circle distance in metres (haversine).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    /// Checks the ranges, reporting against `field`.
    pub fn check(&self, field: &str, out: &mut Vec<Violation>) {
        if !(-90.0..=90.0).contains(&self.lat) {
            out.push(Violation::new(
                format!("{field}.lat"),
                "out_of_range",
                "latitude must be between -90 and 90",
            ));
        }
        if !(-180.0..=180.0).contains(&self.lon) {
            out.push(Violation::new(
                format!("{field}.lon"),
                "out_of_range",
                "longitude must be between -180 and 180",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_between_two_shanghai_points_is_about_right() {
        let people_square = GeoPoint {
            lat: 31.2304,
            lon: 121.4737,
        };
        let bund = GeoPoint {
            lat: 31.2400,
            lon: 121.4900,
        };
        let d = people_square.distance_m(&bund);
        assert!((1_800.0..2_000.0).contains(&d), "got {d}");
    }

    #[test]
    fn out_of_range_positions_are_reported() {
        let mut out = Vec::new();
        GeoPoint {
            lat: 91.0,
            lon: -181.0,
        }
        .check("location", &mut out);
        let fields: Vec<_> = out.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["location.lat", "location.lon"]);
    }
}
