//! The tokens of a label selector string. The special characters are the ones Kubernetes' lexer
//! knows (k8s.io/apimachinery `pkg/labels/selector.go`); everything else that is not whitespace
//! runs together into an identifier. `in` and `notin` are identifiers here: the parser reads them
//! as operators only where an operator may stand, so `a=in` keeps the value `in`.

/// One token of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// A key, a value, or the keywords `in` / `notin`.
    Ident(String),
    /// `!`
    Not,
    /// `=`
    Eq,
    /// `==`
    DoubleEq,
    /// `!=`
    NotEq,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// The end of the string.
    End,
}

impl Token {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("'{s}'"),
            Token::Not => "'!'".into(),
            Token::Eq => "'='".into(),
            Token::DoubleEq => "'=='".into(),
            Token::NotEq => "'!='".into(),
            Token::Gt => "'>'".into(),
            Token::Lt => "'<'".into(),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Comma => "','".into(),
            Token::End => "the end of the selector".into(),
        }
    }
}

/// A token and the character position where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lexed {
    /// The token.
    pub token: Token,
    /// Its start, counted in characters from 0.
    pub position: usize,
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '<' | '>')
}

/// Splits a selector into tokens; the last one is always [`Token::End`].
pub(crate) fn lex(input: &str) -> Vec<Lexed> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('!', Some('=')) => (Token::NotEq, 2),
            ('=', Some('=')) => (Token::DoubleEq, 2),
            ('!', _) => (Token::Not, 1),
            ('=', _) => (Token::Eq, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            _ => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| !c.is_whitespace() && !is_special(**c))
                    .count();
                (Token::Ident(chars[i..i + len].iter().collect()), len)
            }
        };
        out.push(Lexed { token, position: i });
        i += width;
    }
    out.push(Lexed {
        token: Token::End,
        position: chars.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Token> {
        lex(s).into_iter().map(|l| l.token).collect()
    }

    #[test]
    fn splits_operators_and_identifiers() {
        use Token::*;
        let id = |s: &str| Ident(s.to_string());
        assert_eq!(
            tokens("a==b,c!=d, !e ,f in (x, y)"),
            vec![
                id("a"),
                DoubleEq,
                id("b"),
                Comma,
                id("c"),
                NotEq,
                id("d"),
                Comma,
                Not,
                id("e"),
                Comma,
                id("f"),
                id("in"),
                Open,
                id("x"),
                Comma,
                id("y"),
                Close,
                End
            ]
        );
        assert_eq!(tokens("x>1"), vec![id("x"), Gt, id("1"), End]);
        assert_eq!(tokens(""), vec![End]);
    }

    #[test]
    fn positions_count_characters() {
        let lexed = lex("é=b");
        assert_eq!(lexed[1].position, 1);
        assert_eq!(lexed[3].position, 3);
    }
}
