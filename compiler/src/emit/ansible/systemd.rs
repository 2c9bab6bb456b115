//! systemd units rendered at build time with tera: the k3s server/agent
//! units and, for scheduled jobs on Docker fleets, a `.service` + `.timer`
//! pair (Compose has no schedule).

use super::compose::{self, ScheduledJob};
use super::Ctx;

const JOB_SERVICE: &str = include_str!("templates/job.service.tera");
const JOB_TIMER: &str = include_str!("templates/job.timer.tera");
const K3S_SERVICE: &str = include_str!("templates/k3s.service.tera");

fn render(template: &str, ctx: &tera::Context) -> Result<String, String> {
    tera::Tera::one_off(template, ctx, false).map_err(|e| format!("template: {e}"))
}

/// The k3s unit for `mode` (`server` or `agent`).
pub fn k3s_unit(mode: &str) -> Result<String, String> {
    let mut ctx = tera::Context::new();
    ctx.insert("mode", mode);
    ctx.insert("service_type", if mode == "server" { "notify" } else { "exec" });
    render(K3S_SERVICE, &ctx)
}

/// `(service, timer)` unit texts of a scheduled job of a site's Compose
/// project.
pub fn job_units(c: &Ctx, job: &ScheduledJob, cron: &str) -> Result<(String, String), String> {
    let on_calendar = on_calendar(cron)?;
    let deadline = job.deadline_secs.max(60);
    let dir = super::stack_dir(&job.project);
    // Free text (comments, `Description=`) and `ExecStart=` arguments, each
    // escaped for where it lands in the unit file.
    let text = crate::emit::escape::systemd_text;
    let arg = crate::emit::escape::systemd_exec_arg;
    let mut ctx = tera::Context::new();
    ctx.insert("solution", &text(&c.sol.name));
    ctx.insert("version", &text(&c.sol.version));
    ctx.insert("job", &text(&job.service));
    ctx.insert("fleet", &text(&job.fleet));
    ctx.insert("site", &text(&job.site));
    ctx.insert("service", &arg(&job.service));
    ctx.insert("project", &arg(&job.project));
    ctx.insert("project_name", &text(&job.project));
    ctx.insert("working_dir", &text(&dir));
    ctx.insert("project_dir", &arg(&dir));
    ctx.insert("env_file", &arg(&format!("{dir}/.env")));
    ctx.insert("secrets_env", &arg(&super::secrets_env_file(&job.project)));
    ctx.insert("profile", &arg(compose::JOBS_PROFILE));
    ctx.insert("deadline", &deadline);
    // `backoff` retries after the first failure, within the deadline.
    ctx.insert("limit_burst", &(job.backoff + 1));
    ctx.insert("limit_interval", &(deadline * u64::from(job.backoff + 1) + 60));
    ctx.insert("cron", &text(cron));
    ctx.insert("on_calendar", &on_calendar);
    Ok((render(JOB_SERVICE, &ctx)?, render(JOB_TIMER, &ctx)?))
}

#[derive(Clone, Copy)]
enum Field {
    Minute,
    Hour,
    Day,
    Month,
}

const DAYS: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A day of week, `0`–`7` or a name, as its number (Sunday is 0 and 7).
fn day_number(s: &str) -> Result<usize, String> {
    if let Ok(n) = s.parse::<usize>() {
        return if n < DAYS.len() {
            Ok(n)
        } else {
            Err(format!("day of week `{s}` out of range"))
        };
    }
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown day of week `{s}`"))
}

fn day_name(s: &str) -> Result<&'static str, String> {
    let n = day_number(s)?;
    DAYS.get(n)
        .copied()
        .ok_or_else(|| format!("day of week `{s}` out of range"))
}

/// A number of a minute, hour, day or month field (a month also by its
/// name), two digits as systemd writes them.
fn number(s: &str, f: Field) -> Result<String, String> {
    if matches!(f, Field::Month) {
        if let Some(i) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)) {
            return Ok(format!("{:02}", i + 1));
        }
    }
    let n: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    Ok(format!("{n:02}"))
}

/// Cron's `*` and `?` (any value).
fn any(s: &str) -> bool {
    s == "*" || s == "?"
}

fn convert(field: &str, f: Field) -> Result<String, String> {
    let start = if matches!(f, Field::Minute | Field::Hour) {
        "00"
    } else {
        "01"
    };
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| format!("bad step in `{part}`"))?)),
            None => (part, None),
        };
        let base = if any(range) {
            if step.is_some() {
                start.to_string()
            } else {
                "*".to_string()
            }
        } else if let Some((a, b)) = range.split_once('-') {
            format!("{}..{}", number(a, f)?, number(b, f)?)
        } else {
            number(range, f)?
        };
        parts.push(match step {
            Some(s) => format!("{base}/{s}"),
            None => base,
        });
    }
    Ok(parts.join(","))
}

/// The day-of-week field as systemd's weekday list, `None` for any day.
/// systemd has no steps in weekdays, so a stepped part is spelled out day
/// by day (`*/2` is `Sun,Tue,Thu,Sat`, as in Kubernetes' cron).
fn convert_dow(field: &str) -> Result<Option<String>, String> {
    let mut parts: Vec<String> = Vec::new();
    for part in field.split(',') {
        match part.split_once('/') {
            None if any(part) => return Ok(None),
            None => parts.push(match part.split_once('-') {
                Some((a, b)) => format!("{}..{}", day_name(a)?, day_name(b)?),
                None => day_name(part)?.to_string(),
            }),
            Some((range, step)) => {
                let step: usize = step.parse().map_err(|_| format!("bad step in `{part}`"))?;
                if step == 0 {
                    return Err(format!("bad step in `{part}`"));
                }
                let (lo, hi) = if any(range) {
                    (0, 6)
                } else if let Some((a, b)) = range.split_once('-') {
                    (day_number(a)?, day_number(b)?)
                } else {
                    (day_number(range)?, 6)
                };
                for d in (lo..=hi).step_by(step) {
                    let name = DAYS.get(d).copied().unwrap_or("Sun");
                    if !parts.iter().any(|p| p == name) {
                        parts.push(name.to_string());
                    }
                }
            }
        }
    }
    Ok(Some(parts.join(",")))
}

/// A five-field cron expression as a systemd `OnCalendar=` value. Every
/// schedule the checker accepts (E0204) has one; an `Err` is internal.
/// `7,37 * * * *` → `*-*-* *:07,37:00`, `0 3 * * 0` → `Sun *-*-* 03:00:00`.
/// (Cron ORs a restricted day of month with a restricted day of week;
/// systemd ANDs them. The checker's schedules never set both.)
pub fn on_calendar(cron: &str) -> Result<String, String> {
    // The macros the checker accepts, as the five fields cron gives them.
    let cron = match cron.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let f: Vec<&str> = cron.split_whitespace().collect();
    let [min, hour, dom, month, dow] = f.as_slice() else {
        return Err(format!("schedule `{cron}` does not have five fields"));
    };
    let date = format!("*-{}-{}", convert(month, Field::Month)?, convert(dom, Field::Day)?);
    let time = format!("{}:{}:00", convert(hour, Field::Hour)?, convert(min, Field::Minute)?);
    Ok(match convert_dow(dow)? {
        Some(d) => format!("{d} {date} {time}"),
        None => format!("{date} {time}"),
    })
}

#[cfg(test)]
mod tests {
    use super::on_calendar;

    #[test]
    fn cron_to_on_calendar() {
        assert_eq!(on_calendar("7,37 * * * *").as_deref(), Ok("*-*-* *:07,37:00"));
        assert_eq!(on_calendar("*/15 * * * *").as_deref(), Ok("*-*-* *:00/15:00"));
        assert_eq!(on_calendar("0 3 * * 0").as_deref(), Ok("Sun *-*-* 03:00:00"));
        assert_eq!(on_calendar("5 * * * *").as_deref(), Ok("*-*-* *:05:00"));
        assert_eq!(on_calendar("0 2 1 * *").as_deref(), Ok("*-*-01 02:00:00"));
        assert_eq!(
            on_calendar("30 8-17 * * 1-5").as_deref(),
            Ok("Mon..Fri *-*-* 08..17:30:00")
        );
        assert!(on_calendar("* * *").is_err());
        assert_eq!(on_calendar("@daily").as_deref(), Ok("*-*-* 00:00:00"));
        assert_eq!(on_calendar("@weekly").as_deref(), Ok("Sun *-*-* 00:00:00"));
        // Every spelling the checker accepts has a systemd form.
        assert_eq!(
            on_calendar("0 0 * * */2").as_deref(),
            Ok("Sun,Tue,Thu,Sat *-*-* 00:00:00")
        );
        assert_eq!(
            on_calendar("0 0 * * 1-5/2").as_deref(),
            Ok("Mon,Wed,Fri *-*-* 00:00:00")
        );
        assert_eq!(on_calendar("0 0 * * 5/1").as_deref(), Ok("Fri,Sat *-*-* 00:00:00"));
        assert_eq!(on_calendar("0 0 * * fri-7").as_deref(), Ok("Fri..Sun *-*-* 00:00:00"));
        assert_eq!(on_calendar("0 12 * jan-mar *").as_deref(), Ok("*-01..03-* 12:00:00"));
        assert_eq!(on_calendar("0 12 1 JAN,jul *").as_deref(), Ok("*-01,07-01 12:00:00"));
        assert_eq!(on_calendar("0 0 ? * *").as_deref(), Ok("*-*-* 00:00:00"));
        assert_eq!(on_calendar("0 0 1 */3 ?").as_deref(), Ok("*-01/3-01 00:00:00"));
        assert_eq!(on_calendar("0 1-23/2 * * *").as_deref(), Ok("*-*-* 01..23/2:00:00"));
    }
}
