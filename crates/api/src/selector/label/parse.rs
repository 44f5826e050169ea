//! The parser of the label selector string, following the grammar of k8s.io/apimachinery
//! `pkg/labels/selector.go`:
//!
//! ```text
//! selector    := "" | requirement ("," requirement)*
//! requirement := "!" key | key [ op value | ("in" | "notin") "(" values ")" ]
//! op          := "=" | "==" | "!=" | ">" | "<"
//! ```
//!
//! A value after `=`, `==` or `!=` may be empty (`a=` selects an empty label), as in Kubernetes.

use super::{Invalid, Operator, Requirement};
use crate::selector::SelectorError;
use crate::selector::lexer::{Lexed, Token, lex};

const OPERATORS: &str = "'=', '==', '!=', 'in', 'notin', '>', '<', ',' or the end of the selector";

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Lexed>,
    next: usize,
}

/// Parses a whole selector into its requirements, in the order written.
pub(super) fn parse(input: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut p = Parser {
        input,
        tokens: lex(input),
        next: 0,
    };
    let mut out = Vec::new();
    if p.peek().token == Token::End {
        return Ok(out);
    }
    loop {
        out.push(p.requirement()?);
        let t = p.advance();
        match t.token {
            Token::End => return Ok(out),
            Token::Comma => {}
            other => {
                return Err(p.syntax(
                    t.position,
                    &other,
                    "',' or the end of the selector after a requirement",
                ));
            }
        }
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Lexed {
        &self.tokens[self.next]
    }

    fn advance(&mut self) -> Lexed {
        let t = self.tokens[self.next].clone();
        if t.token != Token::End {
            self.next += 1;
        }
        t
    }

    fn syntax(&self, position: usize, found: &Token, expected: &str) -> SelectorError {
        SelectorError::Syntax {
            input: self.input.to_string(),
            position,
            problem: format!("found {}", found.describe()),
            expected: expected.to_string(),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = self.peek().token == Token::Not;
        if negated {
            self.advance();
        }
        let key_token = self.advance();
        let key = match key_token.token {
            Token::Ident(ref key) => key.clone(),
            ref other => {
                let expected = if negated {
                    "a label key after '!'"
                } else {
                    "a label key or '!'"
                };
                return Err(self.syntax(key_token.position, other, expected));
            }
        };
        let op_token = self.peek().clone();
        let (op, values) = if negated {
            (Operator::DoesNotExist, vec![])
        } else {
            match &op_token.token {
                Token::Comma | Token::End => (Operator::Exists, vec![]),
                Token::Eq | Token::DoubleEq | Token::NotEq => {
                    self.advance();
                    let op = match op_token.token {
                        Token::Eq => Operator::Equals,
                        Token::DoubleEq => Operator::DoubleEquals,
                        _ => Operator::NotEquals,
                    };
                    (op, vec![self.exact_value()?])
                }
                Token::Gt | Token::Lt => {
                    self.advance();
                    let op = if op_token.token == Token::Gt {
                        Operator::GreaterThan
                    } else {
                        Operator::LessThan
                    };
                    let t = self.advance();
                    match t.token {
                        Token::Ident(v) => (op, vec![v]),
                        other => return Err(self.syntax(t.position, &other, "an integer")),
                    }
                }
                Token::Ident(word) if word == "in" || word == "notin" => {
                    let op = if word == "in" {
                        Operator::In
                    } else {
                        Operator::NotIn
                    };
                    self.advance();
                    (op, self.value_set()?)
                }
                other => return Err(self.syntax(op_token.position, other, OPERATORS)),
            }
        };
        Requirement::new(key.clone(), op, values).map_err(|invalid| {
            let location = format!("at position {} of {:?}", key_token.position, self.input);
            match invalid {
                Invalid::Key(reason) => SelectorError::InvalidKey {
                    key,
                    location,
                    reason,
                },
                Invalid::Value(value, reason) => SelectorError::InvalidValue {
                    key,
                    value,
                    location,
                    reason,
                },
                Invalid::Shape(detail) => SelectorError::Syntax {
                    input: self.input.to_string(),
                    position: op_token.position,
                    problem: format!("the requirement on {key:?} is incomplete"),
                    expected: detail,
                },
            }
        })
    }

    /// The value after `=`, `==` or `!=`; empty when a `,` or the end follows at once.
    fn exact_value(&mut self) -> Result<String, SelectorError> {
        let t = self.peek().clone();
        match t.token {
            Token::Ident(v) => {
                self.advance();
                Ok(v)
            }
            Token::Comma | Token::End => Ok(String::new()),
            other => Err(self.syntax(t.position, &other, "a label value")),
        }
    }

    /// `( value, value, ... )`. Like Kubernetes, an item left empty between commas is the empty
    /// value, and `()` is caught later as an empty set.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.advance();
        if open.token != Token::Open {
            return Err(self.syntax(open.position, &open.token, "'(' after 'in' or 'notin'"));
        }
        let mut values = Vec::new();
        let mut want_value = true;
        loop {
            let t = self.advance();
            match (t.token, want_value) {
                (Token::Ident(v), true) => {
                    values.push(v);
                    want_value = false;
                }
                (Token::Comma, true) => values.push(String::new()),
                (Token::Comma, false) => want_value = true,
                (Token::Close, true) => {
                    if !values.is_empty() {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                (Token::Close, false) => return Ok(values),
                (other, true) => {
                    return Err(self.syntax(t.position, &other, "a label value, ',' or ')'"));
                }
                (other, false) => return Err(self.syntax(t.position, &other, "',' or ')'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::selector::SelectorError;
    use crate::selector::label::LabelSelector;

    fn err(s: &str) -> SelectorError {
        LabelSelector::parse(s).expect_err(s)
    }

    #[test]
    fn syntax_errors_say_where_and_what_would_be_valid() {
        // (selector, position, text the message must contain)
        let table = [
            ("a b", 2, "found 'b'"),
            ("a in b", 5, "'(' after 'in'"),
            ("a in (x y)", 8, "',' or ')'"),
            ("a in (x", 7, "found the end of the selector"),
            ("a=b,", 4, "a label key or '!'"),
            (",a", 0, "a label key"),
            ("!", 1, "a label key after '!'"),
            ("!a=b", 2, "',' or the end"),
            ("a=(", 2, "a label value"),
            ("a>", 2, "an integer"),
            ("a in ()", 2, "can't be empty"),
            ("a=b c", 4, "',' or the end"),
        ];
        for (sel, position, want) in table {
            match err(sel) {
                SelectorError::Syntax {
                    position: got,
                    ref input,
                    ..
                } => {
                    let msg = err(sel).to_string();
                    assert_eq!(got, position, "{sel}: {msg}");
                    assert_eq!(input, sel);
                    assert!(msg.contains(want), "{sel}: {msg}");
                }
                other => panic!("{sel}: expected a syntax error, got {other}"),
            }
        }
    }

    #[test]
    fn keys_and_values_are_validated() {
        let e = err("x=y,-bad=1");
        assert!(
            matches!(&e, SelectorError::InvalidKey { key, .. } if key == "-bad"),
            "{e}"
        );
        assert!(e.to_string().contains("position 4"), "{e}");
        let e = err("app in (ok,no/slash)");
        assert!(
            matches!(&e, SelectorError::InvalidValue { value, key, .. } if value == "no/slash" && key == "app"),
            "{e}"
        );
        let e = err(&format!("a={}", "v".repeat(64)));
        assert!(e.to_string().contains("63"), "{e}");
        let e = err("a>x");
        assert!(e.to_string().contains("integer"), "{e}");
        assert!(LabelSelector::parse("example.com/tier=front").is_ok());
    }

    #[test]
    fn empty_items_in_sets_are_empty_values() {
        let s = LabelSelector::parse("a in (x,)").unwrap();
        assert_eq!(s.to_string(), "a in (,x)");
        assert!(s.matches(&serde_json::json!({"a": ""})));
    }
}
