//! The language server's re-check on the benchmark's fleet workload: with
//! the items of the previous text from a parse cache, a check after each
//! edit gives exactly what a check from scratch gives. The edits are the latency bench's (one
//! cloud service's count, `1 per 10` → `1 per 11` and `1 per 12`), a fleet
//! service's count, a site's gateways, and a comment that moves every item
//! after it; then back to the original text. The drafts of the workloads
//! an edit did not touch are taken back from the cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use iotc_bench::fleet_workload;
use iotc_compiler::source::MemoryDb;
use iotc_compiler::syntax::ParseCache;
use iotc_compiler::{analyze, analyze_with, Overrides};

#[test]
fn the_fleet_workload_rechecked_after_edits_is_checked_from_scratch() {
    for (services, sites) in [(12, 6), (60, 24)] {
        let text = fleet_workload(services, sites);
        let fleet_count = text.find("replicas = 1 per gateway").unwrap();
        let site = text.find("gateways = ").unwrap() + "gateways = ".len();
        let mid = text[text.len() / 2..].find('\n').unwrap() + text.len() / 2 + 1;
        let edited = [
            text.replacen("replicas = 1 per 10", "replicas = 1 per 11", 1),
            text.replacen("replicas = 1 per 10", "replicas = 1 per 12", 1),
            format!(
                "{}replicas = 2 per gateway{}",
                &text[..fleet_count],
                &text[fleet_count + 24..]
            ),
            format!("{}7{}", &text[..site], &text[site + 1..]),
            format!("{}// a comment\n{}", &text[..mid], &text[mid..]),
            text.clone(),
        ];
        let cache = ParseCache::new();
        for (k, t) in std::iter::once(&text).chain(&edited).enumerate() {
            let db = MemoryDb::new().with("fleet.iot", t);
            let what = format!("{services} × {sites}, edit {k}");
            let full = analyze(&db, "fleet.iot", &Overrides::default());
            cache.sweep();
            let quick = analyze_with(&db, "fleet.iot", &Overrides::default(), Some(&cache));
            assert_eq!(quick.diagnostics, full.diagnostics, "diagnostics of {what}");
            assert_eq!(quick.solution, full.solution, "solution of {what}");
            assert_eq!(quick.counts.len(), full.counts.len(), "count explanations of {what}");
            assert_eq!(quick.counts, full.counts, "count explanations of {what}");
            // The per-site explanations are there, one per fleet service
            // per site, in site order: `1 per gateway` is the site's
            // gateways.
            assert!(full.counts.len() > services / 2 * sites, "{what}");
            if let Some(solution) = &full.solution {
                let name = format!(
                    "replicas of {}",
                    iotc_bench::FleetWorkload::new(services, sites).service_name(3)
                );
                let explained: Vec<(String, u32)> = full
                    .counts
                    .iter()
                    .filter(|c| *c.subject == *name)
                    .map(|c| (c.site.unwrap().to_string(), c.value))
                    .collect();
                let expected: Vec<(String, u32)> = solution.fleets[0]
                    .sites
                    .iter()
                    .map(|s| (s.name.clone(), s.gateways))
                    .collect();
                assert_eq!(explained, expected, "{what}");
            }
        }
        // The items were reused, not parsed again, and the drafts of the
        // workloads an edit did not touch were taken back: the edits that
        // change one service keep the other services' drafts (the site and
        // the comment change what every draft is read in, or move them).
        assert!(cache.stats().0 > 0);
        let (kept, _) = cache.draft_stats();
        assert!(kept >= 3 * (services as u64 - 1), "{kept} drafts taken back");
    }
}
