//! `RouteMatch`: the path, header and query parameter matchers of a route.

use envoy_types::pb::envoy::config::route::v3 as xds;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, regex_matcher, string_matcher,
};

use super::super::common::{Ctx, join, reject_set};
use super::headers::header_name;
use crate::error::ConfigError;
use crate::types::{
    HeaderMatch, HeaderMatcher, PathMatch, QueryParameterMatch, QueryParameterMatcher, Regex,
};

/// The only pseudo-header a route may match on.
const METHOD: &str = ":method";

/// What a `RouteMatch` holds: the path matcher, whether it is case-sensitive, then header
/// and query parameter matchers.
pub(super) type Matchers = (
    PathMatch,
    bool,
    Vec<HeaderMatcher>,
    Vec<QueryParameterMatcher>,
);

pub(super) fn route_match(
    ctx: Ctx<'_>,
    path: &str,
    m: xds::RouteMatch,
) -> Result<Matchers, ConfigError> {
    let xds::RouteMatch {
        case_sensitive,
        runtime_fraction,
        headers,
        query_parameters,
        cookies,
        grpc,
        tls_context,
        dynamic_metadata,
        filter_state,
        path_specifier,
    } = m;
    reject_set!(
        ctx,
        path,
        runtime_fraction,
        cookies,
        grpc,
        tls_context,
        dynamic_metadata,
        filter_state,
    );
    // Absent is true, as in Envoy; a `safe_regex` path ignores it (Envoy's rule too).
    let case_sensitive = case_sensitive.is_none_or(|b| b.value);
    let path_match = path_specifier_match(ctx, path, path_specifier)?;
    let headers = headers
        .into_iter()
        .enumerate()
        .map(|(i, h)| header_matcher(ctx, &format!("{path}.headers[{i}]"), h))
        .collect::<Result<_, _>>()?;
    let query_parameters = query_parameters
        .into_iter()
        .enumerate()
        .map(|(i, q)| query_matcher(ctx, &format!("{path}.query_parameters[{i}]"), q))
        .collect::<Result<_, _>>()?;
    Ok((path_match, case_sensitive, headers, query_parameters))
}

fn path_specifier_match(
    ctx: Ctx<'_>,
    path: &str,
    specifier: Option<xds::route_match::PathSpecifier>,
) -> Result<PathMatch, ConfigError> {
    use xds::route_match::PathSpecifier as P;
    let unsupported = |field: &str| {
        Err(ctx.unsupported(
            join(path, field),
            "matcher (only prefix, path or safe_regex)",
        ))
    };
    match specifier {
        Some(P::Prefix(p)) if p.is_empty() || p.starts_with('/') => Ok(PathMatch::Prefix(p)),
        Some(P::Prefix(p)) => Err(ctx.invalid(
            join(path, "prefix"),
            format!("{p:?} does not start with '/'"),
        )),
        Some(P::Path(p)) if p.starts_with('/') => Ok(PathMatch::Exact(p)),
        Some(P::Path(p)) => {
            Err(ctx.invalid(join(path, "path"), format!("{p:?} does not start with '/'")))
        }
        Some(P::SafeRegex(r)) => regex(ctx, &join(path, "safe_regex"), r).map(PathMatch::Regex),
        Some(P::ConnectMatcher(_)) => unsupported("connect_matcher"),
        Some(P::PathSeparatedPrefix(_)) => unsupported("path_separated_prefix"),
        Some(P::PathMatchPolicy(_)) => unsupported("path_match_policy"),
        None => Err(ctx.missing(join(path, "prefix"))),
    }
}

#[allow(deprecated)]
fn header_matcher(
    ctx: Ctx<'_>,
    path: &str,
    h: xds::HeaderMatcher,
) -> Result<HeaderMatcher, ConfigError> {
    let xds::HeaderMatcher {
        name,
        invert_match,
        treat_missing_header_as_empty,
        header_match_specifier,
    } = h;
    reject_set!(ctx, path, treat_missing_header_as_empty);
    let name = if name.eq_ignore_ascii_case(METHOD) {
        METHOD.to_owned()
    } else if name.starts_with(':') {
        return Err(ctx.unsupported(
            join(path, "name"),
            format!("pseudo-header {name:?} (only {METHOD})"),
        ));
    } else {
        header_name(ctx, &join(path, "name"), name)?
    };
    use xds::header_matcher::HeaderMatchSpecifier as H;
    let deprecated =
        |field: &str| Err(ctx.unsupported(join(path, field), "field (use string_match)"));
    let kind = match header_match_specifier {
        Some(H::PresentMatch(true)) => HeaderMatch::Present,
        Some(H::PresentMatch(false)) => {
            return Err(ctx.unsupported(join(path, "present_match"), "value false"));
        }
        Some(H::StringMatch(m)) => {
            let p = join(path, "string_match");
            match string_match(ctx, &p, m)? {
                StringMatch::Exact(v) => HeaderMatch::Exact(v),
                StringMatch::Prefix(v) => HeaderMatch::Prefix(v),
                StringMatch::Suffix(v) => HeaderMatch::Suffix(v),
                StringMatch::Regex(r) => HeaderMatch::Regex(r),
            }
        }
        Some(H::ExactMatch(_)) => return deprecated("exact_match"),
        Some(H::SafeRegexMatch(_)) => return deprecated("safe_regex_match"),
        Some(H::PrefixMatch(_)) => return deprecated("prefix_match"),
        Some(H::SuffixMatch(_)) => return deprecated("suffix_match"),
        Some(H::ContainsMatch(_)) => return deprecated("contains_match"),
        Some(H::RangeMatch(_)) => {
            return Err(ctx.unsupported(join(path, "range_match"), "matcher"));
        }
        None => return Err(ctx.missing(join(path, "string_match"))),
    };
    Ok(HeaderMatcher {
        name,
        kind,
        invert: invert_match,
    })
}

fn query_matcher(
    ctx: Ctx<'_>,
    path: &str,
    q: xds::QueryParameterMatcher,
) -> Result<QueryParameterMatcher, ConfigError> {
    let xds::QueryParameterMatcher {
        name,
        query_parameter_match_specifier,
    } = q;
    if name.is_empty() {
        return Err(ctx.missing(join(path, "name")));
    }
    use xds::query_parameter_matcher::QueryParameterMatchSpecifier as Q;
    let kind = match query_parameter_match_specifier {
        Some(Q::PresentMatch(true)) => QueryParameterMatch::Present,
        Some(Q::PresentMatch(false)) => {
            return Err(ctx.unsupported(join(path, "present_match"), "value false"));
        }
        Some(Q::StringMatch(m)) => {
            let p = join(path, "string_match");
            match string_match(ctx, &p, m)? {
                StringMatch::Exact(v) => QueryParameterMatch::Exact(v),
                StringMatch::Regex(r) => QueryParameterMatch::Regex(r),
                StringMatch::Prefix(_) => {
                    return Err(
                        ctx.unsupported(join(&p, "prefix"), "matcher (only exact or safe_regex)")
                    );
                }
                StringMatch::Suffix(_) => {
                    return Err(
                        ctx.unsupported(join(&p, "suffix"), "matcher (only exact or safe_regex)")
                    );
                }
            }
        }
        None => return Err(ctx.missing(join(path, "string_match"))),
    };
    Ok(QueryParameterMatcher { name, kind })
}

/// The kinds of `StringMatcher` the proxy implements, case-sensitive.
enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Regex),
}

fn string_match(ctx: Ctx<'_>, path: &str, m: StringMatcher) -> Result<StringMatch, ConfigError> {
    let StringMatcher {
        ignore_case,
        match_pattern,
    } = m;
    reject_set!(ctx, path, ignore_case);
    use string_matcher::MatchPattern as M;
    match match_pattern {
        Some(M::Exact(v)) => Ok(StringMatch::Exact(v)),
        Some(M::Prefix(v)) if !v.is_empty() => Ok(StringMatch::Prefix(v)),
        Some(M::Suffix(v)) if !v.is_empty() => Ok(StringMatch::Suffix(v)),
        Some(M::Prefix(_)) => Err(ctx.missing(join(path, "prefix"))),
        Some(M::Suffix(_)) => Err(ctx.missing(join(path, "suffix"))),
        Some(M::SafeRegex(r)) => regex(ctx, &join(path, "safe_regex"), r).map(StringMatch::Regex),
        Some(M::Contains(_)) => Err(ctx.unsupported(
            join(path, "contains"),
            "matcher (only exact, prefix, suffix or safe_regex)",
        )),
        Some(M::Custom(_)) => Err(ctx.unsupported(
            join(path, "custom"),
            "matcher (only exact, prefix, suffix or safe_regex)",
        )),
        None => Err(ctx.missing(join(path, "exact"))),
    }
}

/// An RE2 regex (`google_re2 {}` or no engine), compiled to match whole values.
#[allow(deprecated)]
pub(super) fn regex(ctx: Ctx<'_>, path: &str, r: RegexMatcher) -> Result<Regex, ConfigError> {
    let RegexMatcher { regex, engine_type } = r;
    match engine_type {
        None => {}
        Some(regex_matcher::EngineType::GoogleRe2(g)) => {
            let max_program_size = g.max_program_size;
            reject_set!(ctx, join(path, "google_re2"), max_program_size);
        }
    }
    if regex.is_empty() {
        return Err(ctx.missing(join(path, "regex")));
    }
    Regex::new(&regex).map_err(|e| {
        ctx.invalid(
            join(path, "regex"),
            format!("{regex:?} is not a valid RE2 regex: {e}"),
        )
    })
}
