//! Placeholders: `{resources.<parent>.<field>}` and `{incremental.<value>}` in path, params,
//! json, data and headers, formatted as Python's `str.format` does (`{{`/`}}` are literal
//! braces; in `json` a lone placeholder keeps its JSON type).

use serde_json::Value;

use super::selector::Path;
use crate::error::{Error, Result};

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A placeholder expression, like `resources.issues.number`.
    Expr(String),
}

/// A parsed format string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; `where_` names the field for errors.
    pub fn parse(text: &str, where_: &str) -> Result<Template> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut expr = String::new();
                    let mut closed = false;
                    for c2 in chars.by_ref() {
                        if c2 == '}' {
                            closed = true;
                            break;
                        }
                        expr.push(c2);
                    }
                    if !closed || expr.trim().is_empty() {
                        return Err(Error::Config(format!(
                            "{where_}: `{text}` has an unclosed or empty `{{`; write literal braces as `{{{{` and `}}}}`"
                        )));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Expr(expr.trim().to_string()));
                }
                '}' => {
                    return Err(Error::Config(format!(
                        "{where_}: `{text}` has a single `}}`; write a literal brace as `}}}}`"
                    )));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// The placeholder expressions.
    pub fn exprs(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Whether the template has no placeholders.
    pub fn is_literal(&self) -> bool {
        self.exprs().next().is_none()
    }

    /// The single expression if the template is exactly one placeholder.
    pub fn lone_expr(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// Replaces the placeholder `{from}` by `{to}` (legacy `resolve` params).
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        let mut hit = false;
        for p in &mut self.parts {
            if let Part::Expr(e) = p
                && e == from
            {
                *e = to.to_string();
                hit = true;
            }
        }
        hit
    }

    /// Renders with `lookup` giving each expression's value.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Result<Value>) -> Result<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Expr(e) => out.push_str(&value_text(&lookup(e)?)),
            }
        }
        Ok(out)
    }
}

/// A value as `str()` would show it in a URL or header.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON body whose strings may hold placeholders.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A string template.
    Str(Template),
    /// An array.
    Arr(Vec<JsonTemplate>),
    /// An object.
    Obj(Vec<(String, JsonTemplate)>),
    /// Any other value.
    Other(Value),
}

impl JsonTemplate {
    /// Parses every string in `v`.
    pub fn parse(v: &Value, where_: &str) -> Result<JsonTemplate> {
        Ok(match v {
            Value::String(s) => JsonTemplate::Str(Template::parse(s, where_)?),
            Value::Array(a) => JsonTemplate::Arr(
                a.iter()
                    .map(|x| JsonTemplate::parse(x, where_))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(m) => JsonTemplate::Obj(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), JsonTemplate::parse(x, where_)?)))
                    .collect::<Result<_>>()?,
            ),
            other => JsonTemplate::Other(other.clone()),
        })
    }

    /// Every template inside.
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            JsonTemplate::Str(t) => vec![t],
            JsonTemplate::Arr(a) => a.iter().flat_map(|x| x.templates()).collect(),
            JsonTemplate::Obj(m) => m.iter().flat_map(|(_, x)| x.templates()).collect(),
            JsonTemplate::Other(_) => vec![],
        }
    }

    /// Renders; a lone placeholder keeps the type of its value.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Result<Value>) -> Result<Value> {
        Ok(match self {
            JsonTemplate::Str(t) => match t.lone_expr() {
                Some(e) => lookup(e)?,
                None => Value::String(t.render(lookup)?),
            },
            JsonTemplate::Arr(a) => {
                Value::Array(a.iter().map(|x| x.render(lookup)).collect::<Result<_>>()?)
            }
            JsonTemplate::Obj(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), x.render(lookup)?);
                }
                Value::Object(out)
            }
            JsonTemplate::Other(v) => v.clone(),
        })
    }
}

/// A `resources.<parent>.<field>` reference.
#[derive(Debug, Clone)]
pub struct ParentRef {
    /// Parent resource.
    pub parent: String,
    /// Field path in the parent item.
    pub field: String,
    /// Compiled field path.
    pub path: Path,
}

/// Splits `resources.<parent>.<field>`.
pub fn parent_ref(expr: &str) -> Option<(String, String)> {
    let rest = expr.strip_prefix("resources.")?;
    let (parent, field) = rest.split_once('.')?;
    Some((parent.to_string(), field.to_string()))
}

/// Checks an expression is one this endpoint may use.
pub fn check_expr(expr: &str, has_incremental: bool, where_: &str) -> Result<()> {
    let ok =
        expr.starts_with("resources.") || (has_incremental && expr.starts_with("incremental."));
    if ok {
        if let Some(v) = expr.strip_prefix("incremental.")
            && !matches!(
                v,
                "start_value" | "last_value" | "end_value" | "initial_value"
            )
        {
            return Err(Error::Config(format!(
                "{where_}: `{{{expr}}}` is unknown; use incremental.start_value, last_value, end_value or initial_value"
            )));
        }
        if expr.starts_with("resources.") && parent_ref(expr).is_none() {
            return Err(Error::Config(format!(
                "{where_}: `{{{expr}}}` needs a field: `{{resources.<parent>.<field>}}`"
            )));
        }
        return Ok(());
    }
    let valid = if has_incremental {
        "`{'resources', 'incremental'}`"
    } else {
        "`{'resources'}`"
    };
    Err(Error::Config(format!(
        "Expression `{expr}` defined in {where_} is not valid. Valid expressions must start with one of: {valid}. If you need to use literal curly braces, escape them as `{{{{` and `}}}}`{}",
        if expr.starts_with("incremental.") {
            " (incremental placeholders need `endpoint.incremental`)"
        } else {
            ""
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_renders_like_str_format() {
        let t = Template::parse("issues/{resources.issues.number}/c{{x}}", "path").unwrap();
        assert_eq!(t.exprs().collect::<Vec<_>>(), ["resources.issues.number"]);
        let s = t.render(&|_| Ok(json!(7))).unwrap();
        assert_eq!(s, "issues/7/c{x}");
        assert!(Template::parse("a/{b", "path").is_err());
        assert!(Template::parse("a/}b", "path").is_err());
        let j = JsonTemplate::parse(
            &json!({"id": "{resources.p.id}", "q": "x-{resources.p.id}"}),
            "json",
        )
        .unwrap();
        assert_eq!(
            j.render(&|_| Ok(json!(5))).unwrap(),
            json!({"id": 5, "q": "x-5"})
        );
    }

    #[test]
    fn checks_expressions() {
        assert!(check_expr("resources.a.b", false, "params").is_ok());
        let e = check_expr("incremental.start_value", false, "params")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Valid expressions must start with one of"),
            "{e}"
        );
        assert!(check_expr("incremental.start_value", true, "params").is_ok());
        assert!(check_expr("resources.a", false, "params").is_err());
    }
}
