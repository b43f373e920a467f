//! OPL parser: tokens → Keto-shaped AST, queued type checks, and Quartet's warnings.
//!
//! This follows Keto v0.14's recursive-descent parser token for token so that the accepted
//! language, the AST shape and the *first* error (message and token) are the same
//! (`shared/reference/keto.md` §4.2–4.4). Notable behaviour reproduced on purpose:
//!
//! * Literal tokens are compared by *value* (`'this'` matches `this`), names accept an
//!   identifier or a string literal, and a few places accept *any* token (relation name after
//!   `this.related`, the lambda argument, both `SubjectSet<…>` arguments).
//! * Every syntax error is fatal; the few places where Keto keeps going after a fatal error
//!   and reports a second one are kept (e.g. a wrong lambda argument in `traverse`).
//! * `&&`/`||` are grouped strictly left to right (§4.3); two operands without an operator
//!   join the current operator node; a dangling operator is ignored; a `}` closes open `(`.
//!   Each of these gets a [`Severity::Warning`](super::Severity) because TypeScript reads
//!   the text differently.
//! * `(` and `!` may nest at most [`EXPRESSION_NESTING_MAX_DEPTH`] deep.
//!
//! Operator chains are kept flat while parsing ([`Level`]) and only turned into Keto's nested
//! tree once its depth is known to be at most [`MAX_REWRITE_DEPTH`], so no input can make
//! the parser (or a later tree walk or drop) recurse without bound.

use super::ast::{self, Namespace, Operator, Relation, RelationType, Span, SubjectSetRewrite};
use super::checker::Check;
use super::diagnostic::go_quote;
use super::lexer::{Token, TokenKind};

/// Keto's limit on nested `(` and `!` inside one permit.
pub const EXPRESSION_NESTING_MAX_DEPTH: i32 = 10;

/// Quartet's own limit on the depth of a permit's rewrite tree (Keto has none). Keto's
/// left-to-right grouping nests one level per operator *switch*, so only pathological inputs
/// (dozens of alternating `||`/`&&`) reach it.
pub const MAX_REWRITE_DEPTH: usize = 64;

/// An error or warning before positions are resolved: message and byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDiagnostic {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl RawDiagnostic {
    pub fn at(token: &Token, message: String) -> RawDiagnostic {
        RawDiagnostic {
            message,
            start: token.start,
            end: token.end,
        }
    }
}

/// Everything the parser found.
pub struct ParseOutput {
    pub namespaces: Vec<Namespace>,
    pub errors: Vec<RawDiagnostic>,
    pub warnings: Vec<RawDiagnostic>,
    pub checks: Vec<Check>,
}

/// Parses a token list as produced by [`super::lexer::lex`].
pub fn parse_tokens(tokens: Vec<Token>) -> ParseOutput {
    let mut p = Parser {
        tokens,
        pos: 0,
        namespaces: Vec::new(),
        current: empty_namespace(String::new(), Span::default()),
        errors: Vec::new(),
        warnings: Vec::new(),
        fatal: false,
        checks: Vec::new(),
    };
    p.parse();
    ParseOutput {
        namespaces: p.namespaces,
        errors: p.errors,
        warnings: p.warnings,
        checks: p.checks,
    }
}

fn empty_namespace(name: String, span: Span) -> Namespace {
    Namespace {
        name,
        span,
        relations: Vec::new(),
    }
}

fn span_of(t: &Token) -> Span {
    Span {
        start: t.start,
        end: t.end,
    }
}

/// An operand while parsing.
enum PChild {
    Computed(String),
    TupleToSubjectSet(String, String),
    Not(Box<PChild>),
    Group(Level),
}

/// `op` followed by the operands written after it.
struct Frame {
    op: Operator,
    children: Vec<PChild>,
}

/// One expression level kept flat. Keto's tree for it is node 0 = `{base_op, base}` and node
/// i = `{frames[i-1].op, [node i-1] ++ frames[i-1].children}`; the last node is the root.
struct Level {
    base_op: Operator,
    base: Vec<PChild>,
    frames: Vec<Frame>,
}

impl Level {
    /// Keto's `addChild(nil, child)`: a group is the root itself, anything else is wrapped in
    /// a single-child `or` node.
    fn from_first(child: PChild) -> Level {
        match child {
            PChild::Group(level) => level,
            other => Level {
                base_op: Operator::Or,
                base: vec![other],
                frames: Vec::new(),
            },
        }
    }

    /// Appends an operand to the current root node.
    fn push(&mut self, child: PChild) {
        match self.frames.last_mut() {
            Some(frame) => frame.children.push(child),
            None => self.base.push(child),
        }
    }

    fn top_op(&self) -> Operator {
        self.frames.last().map_or(self.base_op, |f| f.op)
    }

    fn op_at(&self, node: usize) -> Operator {
        match node.checked_sub(1) {
            None => self.base_op,
            Some(i) => self.frames.get(i).map_or(self.base_op, |f| f.op),
        }
    }

    fn children_at(&self, node: usize) -> &[PChild] {
        match node.checked_sub(1) {
            None => &self.base,
            Some(i) => self.frames.get(i).map_or(&[][..], |f| &f.children),
        }
    }

    /// Lowest node index from which all nodes up to the root share the root's operator
    /// (the part Keto's `simplifyExpression` merges into the root).
    fn chain_start(&self) -> usize {
        let top = self.top_op();
        let mut j = self.frames.len();
        while j > 0 && self.op_at(j - 1) == top {
            j -= 1;
        }
        j
    }

    /// Depth of Keto's unsimplified node `node`.
    fn raw_depth(&self, node: usize) -> usize {
        let mut depth = 1 + max_depth(&self.base);
        for frame in self.frames.iter().take(node) {
            depth = 1 + depth.max(max_depth(&frame.children));
        }
        depth
    }

    /// Keto's unsimplified node `node`. Only call after checking the depth.
    fn raw(&self, node: usize) -> SubjectSetRewrite {
        let mut current = SubjectSetRewrite {
            operator: self.base_op,
            children: self.base.iter().map(raw_child).collect(),
        };
        for frame in self.frames.iter().take(node) {
            let mut children = Vec::with_capacity(frame.children.len() + 1);
            children.push(ast::Child::Rewrite(current));
            children.extend(frame.children.iter().map(raw_child));
            current = SubjectSetRewrite {
                operator: frame.op,
                children,
            };
        }
        current
    }

    /// Depth of `simplified()`.
    fn simplified_depth(&self) -> usize {
        let top = self.top_op();
        let j = self.chain_start();
        let mut depth = if j >= 1 { self.raw_depth(j - 1) } else { 0 };
        for node in j..=self.frames.len() {
            for child in self.children_at(node) {
                let d = match child {
                    PChild::Group(g) if g.top_op() == top => g.simplified_depth().saturating_sub(1),
                    other => child_depth(other),
                };
                depth = depth.max(d);
            }
        }
        depth + 1
    }

    /// Keto's `simplifyExpression(root)`: children of the root that are operator nodes with
    /// the root's operator are merged into it (recursively, but only through merged nodes).
    fn simplified(&self) -> SubjectSetRewrite {
        let top = self.top_op();
        let j = self.chain_start();
        let mut children = Vec::new();
        if j >= 1 {
            children.push(ast::Child::Rewrite(self.raw(j - 1)));
        }
        for node in j..=self.frames.len() {
            for child in self.children_at(node) {
                match child {
                    PChild::Group(g) if g.top_op() == top => {
                        children.extend(g.simplified().children)
                    }
                    other => children.push(raw_child(other)),
                }
            }
        }
        SubjectSetRewrite {
            operator: top,
            children,
        }
    }
}

fn max_depth(children: &[PChild]) -> usize {
    children.iter().map(child_depth).max().unwrap_or(0)
}

fn child_depth(child: &PChild) -> usize {
    match child {
        PChild::Computed(_) | PChild::TupleToSubjectSet(..) => 1,
        PChild::Not(inner) => 1 + child_depth(inner),
        PChild::Group(level) => level.raw_depth(level.frames.len()),
    }
}

fn raw_child(child: &PChild) -> ast::Child {
    match child {
        PChild::Computed(relation) => ast::Child::ComputedSubjectSet {
            relation: relation.clone(),
        },
        PChild::TupleToSubjectSet(relation, computed) => ast::Child::TupleToSubjectSet {
            relation: relation.clone(),
            computed_subject_set_relation: computed.clone(),
        },
        PChild::Not(inner) => ast::Child::InvertResult {
            inverted: Box::new(raw_child(inner)),
        },
        PChild::Group(level) => ast::Child::Rewrite(level.raw(level.frames.len())),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    namespaces: Vec<Namespace>,
    current: Namespace,
    errors: Vec<RawDiagnostic>,
    warnings: Vec<RawDiagnostic>,
    fatal: bool,
    checks: Vec<Check>,
}

impl Parser {
    // ----- token access -------------------------------------------------------------------

    fn next(&mut self) -> Token {
        match self.tokens.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                t.clone()
            }
            None => Token::broken_state(),
        }
    }

    fn peek(&self) -> Token {
        self.tokens
            .get(self.pos)
            .cloned()
            .unwrap_or_else(Token::broken_state)
    }

    fn fail(&mut self, token: &Token, message: String) {
        self.errors.push(RawDiagnostic::at(token, message));
        self.fatal = true;
    }

    fn warn(&mut self, token: &Token, message: String) {
        self.warnings.push(RawDiagnostic::at(token, message));
    }

    // ----- matchers (Keto's `match` elements; each is a no-op returning false once fatal) ---

    /// A token whose *value* must be `want`.
    fn lit(&mut self, want: &str) -> bool {
        if self.fatal {
            return false;
        }
        let t = self.next();
        if t.val != want {
            self.fail(
                &t,
                format!("expected {}, got {}", go_quote(want), go_quote(&t.val)),
            );
            return false;
        }
        true
    }

    /// An identifier or string literal.
    fn name(&mut self) -> Option<Token> {
        if self.fatal {
            return None;
        }
        let t = self.next();
        match t.kind {
            TokenKind::Identifier | TokenKind::StringLiteral => Some(t),
            other => {
                self.fail(
                    &t,
                    format!("expected identifier, got {}", other.keto_name()),
                );
                None
            }
        }
    }

    /// Any token at all.
    fn any(&mut self) -> Option<Token> {
        if self.fatal {
            None
        } else {
            Some(self.next())
        }
    }

    /// If the next token's value is `tokens[0]`, all of `tokens` must follow.
    fn optional(&mut self, tokens: &[&str]) -> bool {
        if self.fatal {
            return false;
        }
        let Some((first, rest)) = tokens.split_first() else {
            return true;
        };
        if self.peek().val == *first {
            self.next();
            for want in rest {
                let t = self.next();
                if t.val != *want {
                    self.fail(
                        &t,
                        format!("expected {}, got {}", go_quote(want), go_quote(&t.val)),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// `[name]` or `.name`, where `name` is any token.
    fn property_any(&mut self) -> Option<Token> {
        self.property(Parser::any)
    }

    /// `[name]` or `.name`, where `name` is an identifier or string literal.
    fn property_name(&mut self) -> Option<Token> {
        self.property(Parser::name)
    }

    fn property(&mut self, inner: fn(&mut Parser) -> Option<Token>) -> Option<Token> {
        if self.fatal {
            return None;
        }
        if self.peek().kind == TokenKind::BracketLeft {
            if self.lit("[") {
                if let Some(t) = inner(self) {
                    if self.lit("]") {
                        return Some(t);
                    }
                }
            }
            return None;
        }
        if self.lit(".") {
            inner(self)
        } else {
            None
        }
    }

    // ----- file and class level -------------------------------------------------------------

    fn parse(&mut self) {
        while !self.fatal {
            let t = self.next();
            match t.kind {
                TokenKind::Eof => break,
                TokenKind::Error => self.fail(&t, format!("fatal: {}", t.val)),
                TokenKind::KeywordClass => self.parse_class(),
                // Everything else at the top level (imports, `export`, `;`, …) is ignored.
                _ => {}
            }
        }
    }

    fn parse_class(&mut self) {
        let name = self.name();
        let _ = name.is_some() && self.lit("implements") && self.lit("Namespace") && self.lit("{");
        self.current = match name {
            Some(t) => empty_namespace(t.val.clone(), span_of(&t)),
            None => empty_namespace(String::new(), Span::default()),
        };

        while !self.fatal {
            let t = self.next();
            if t.kind == TokenKind::BraceRight {
                let done = std::mem::replace(
                    &mut self.current,
                    empty_namespace(String::new(), Span::default()),
                );
                self.namespaces.push(done);
                return;
            } else if t.val == "related" {
                self.parse_related();
            } else if t.val == "permits" {
                self.parse_permits();
            } else if t.kind == TokenKind::Semicolon {
                continue;
            } else {
                self.fail(
                    &t,
                    format!("expected 'permits' or 'related', got {}", go_quote(&t.val)),
                );
                return;
            }
        }
    }

    fn parse_related(&mut self) {
        let _ = self.lit(":") && self.lit("{");
        while !self.fatal {
            let t = self.next();
            match t.kind {
                TokenKind::Semicolon => continue,
                TokenKind::BraceRight => return,
                TokenKind::Identifier | TokenKind::StringLiteral => {
                    let _ = self.lit(":");
                    // Keto reads the next token even after a failed ':'.
                    let item = self.next();
                    let mut types = Vec::new();
                    if item.val == "Array" {
                        let _ = self.lit("<");
                        types.extend(self.parse_type_union(TokenKind::AngledRight));
                    } else if item.val == "SubjectSet" {
                        types.push(self.parse_subject_set());
                        let _ = self.lit("[") && self.lit("]") && self.optional(&[","]);
                    } else if item.kind == TokenKind::ParenLeft {
                        types.extend(self.parse_type_union(TokenKind::ParenRight));
                        let _ = self.lit("[") && self.lit("]") && self.optional(&[","]);
                    } else {
                        types.push(RelationType {
                            namespace: item.val.clone(),
                            relation: None,
                        });
                        self.checks.push(Check::NamespaceExists { namespace: item });
                        let _ = self.lit("[") && self.lit("]") && self.optional(&[","]);
                    }
                    self.current.relations.push(Relation {
                        name: t.val.clone(),
                        span: span_of(&t),
                        types,
                        rewrite: None,
                    });
                }
                other => {
                    self.fail(
                        &t,
                        format!(
                            "expected identifier or '}}', got {} {}",
                            other.keto_name(),
                            go_quote(&t.val)
                        ),
                    );
                    return;
                }
            }
        }
    }

    /// `<Namespace, relation>` after `SubjectSet`; both arguments may be any token.
    fn parse_subject_set(&mut self) -> RelationType {
        let mut namespace = Token::zero();
        let mut relation = Token::zero();
        let _ = self.lit("<")
            && self.any().map(|t| namespace = t).is_some()
            && self.lit(",")
            && self.any().map(|t| relation = t).is_some()
            && self.lit(">");
        let rel = relation.val.clone();
        self.checks.push(Check::NamespaceHasRelation {
            namespace: namespace.clone(),
            relation,
        });
        RelationType {
            namespace: namespace.val,
            // Keto stores "" and omits it; an empty relation then means "plain namespace".
            relation: if rel.is_empty() { None } else { Some(rel) },
        }
    }

    fn parse_type_union(&mut self, end: TokenKind) -> Vec<RelationType> {
        let mut types = Vec::new();
        while !self.fatal {
            let ident = self.any().unwrap_or_else(Token::zero);
            if ident.val == "SubjectSet" {
                types.push(self.parse_subject_set());
            } else {
                types.push(RelationType {
                    namespace: ident.val.clone(),
                    relation: None,
                });
                self.checks
                    .push(Check::NamespaceExists { namespace: ident });
            }
            // Keto reads on (and may report a second error) even after a fatal one above.
            let t = self.next();
            if t.kind == end {
                return types;
            } else if t.kind != TokenKind::TypeUnion {
                self.fail(&t, format!("expected '|', got {}", go_quote(&t.val)));
            }
        }
        types
    }

    fn parse_permits(&mut self) {
        let _ = self.lit("=") && self.lit("{");
        while !self.fatal {
            let t = self.next();
            match t.kind {
                TokenKind::BraceRight => return,
                TokenKind::Identifier | TokenKind::StringLiteral => {
                    let _ = self.lit(":")
                        && self.lit("(")
                        && self.lit("ctx")
                        && self.optional(&[":", "Context"])
                        && self.lit(")")
                        && self.optional(&[":", "boolean"])
                        && self.lit("=>");
                    let Some(level) = self.parse_expressions(
                        TokenKind::Comma,
                        EXPRESSION_NESTING_MAX_DEPTH,
                        None,
                    ) else {
                        // Keto silently leaves the `permits` block here when the expression
                        // was empty or started with an operator.
                        return;
                    };
                    let depth = level.simplified_depth();
                    if depth > MAX_REWRITE_DEPTH {
                        self.fail(
                            &t,
                            format!(
                                "expression too complex: its rewrite tree would be {depth} levels \
                                 deep, Quartet allows at most {MAX_REWRITE_DEPTH}; add parentheses \
                                 or split the permit"
                            ),
                        );
                        return;
                    }
                    self.current.relations.push(Relation {
                        name: t.val.clone(),
                        span: span_of(&t),
                        types: Vec::new(),
                        rewrite: Some(level.simplified()),
                    });
                }
                other => {
                    self.fail(
                        &t,
                        format!(
                            "expected identifier or '}}', got {} {}",
                            other.keto_name(),
                            go_quote(&t.val)
                        ),
                    );
                    return;
                }
            }
        }
    }

    // ----- expressions -------------------------------------------------------------------

    fn too_deep(&mut self) {
        let t = self.peek();
        self.fail(
            &t,
            format!(
                "expression nested too deeply; maximal nesting depth is {EXPRESSION_NESTING_MAX_DEPTH}"
            ),
        );
    }

    /// Keto's `parsePermissionExpressions`. `open` is the `(` that started this group.
    fn parse_expressions(
        &mut self,
        final_kind: TokenKind,
        depth: i32,
        open: Option<&Token>,
    ) -> Option<Level> {
        if depth <= 0 {
            self.too_deep();
            return None;
        }
        let mut root: Option<Level> = None;
        // Keto expects an operand at the start, after an operator and (quirk) after a call.
        let mut expect_expression = true;
        // For warnings only:
        let mut pending_op: Option<Token> = None; // operator still waiting for its operand
        let mut after_operand = false;
        let mut seen_or = false;
        let mut warned_mixed = false;

        while !self.fatal {
            let t = self.peek();
            match t.kind {
                TokenKind::ParenLeft => {
                    self.next();
                    let child =
                        self.parse_expressions(TokenKind::ParenRight, depth - 1, Some(&t))?;
                    if after_operand {
                        self.warn_juxtaposed(&t);
                    }
                    root = Some(add_child(root, PChild::Group(child)));
                    expect_expression = false;
                    pending_op = None;
                    after_operand = true;
                }
                kind if kind == final_kind => {
                    self.next();
                    self.warn_dangling(pending_op.as_ref());
                    return root;
                }
                TokenKind::BraceRight => {
                    // Not consumed: `parse_permits` / the caller sees the `}` as well.
                    if let Some(open) = open {
                        self.warn(
                            open,
                            "unclosed \"(\": Keto closes it at the \"}\" that ends the permits \
                             block; TypeScript would reject this"
                                .to_owned(),
                        );
                    }
                    self.warn_dangling(pending_op.as_ref());
                    return root;
                }
                TokenKind::And | TokenKind::Or => {
                    self.next();
                    // An operator before the first operand: Keto gives up on this permit
                    // without an error.
                    let mut level = root.take()?;
                    self.warn_dangling(pending_op.as_ref());
                    let op = if t.kind == TokenKind::And {
                        Operator::And
                    } else {
                        Operator::Or
                    };
                    if op == Operator::Or {
                        seen_or = true;
                    } else if seen_or && !warned_mixed {
                        warned_mixed = true;
                        self.warn(
                            &t,
                            "\"&&\" after \"||\" without parentheses: Keto groups strictly left \
                             to right, so \"a || b && c\" means \"(a || b) && c\", while \
                             TypeScript reads \"a || (b && c)\"; add parentheses"
                                .to_owned(),
                        );
                    }
                    level.frames.push(Frame {
                        op,
                        children: Vec::new(),
                    });
                    root = Some(level);
                    expect_expression = true;
                    pending_op = Some(t);
                    after_operand = false;
                }
                TokenKind::Not => {
                    self.next();
                    let child = self.parse_not(depth - 1)?;
                    if after_operand {
                        self.warn_juxtaposed(&t);
                    }
                    root = Some(add_child(root, child));
                    expect_expression = false;
                    pending_op = None;
                    after_operand = true;
                }
                _ => {
                    if !expect_expression {
                        self.fail(&t, "did not expect another expression".to_owned());
                        return None;
                    }
                    let child = self.parse_call()?;
                    if after_operand {
                        self.warn_juxtaposed(&t);
                    }
                    root = Some(add_child(root, child));
                    expect_expression = true;
                    pending_op = None;
                    after_operand = true;
                }
            }
        }
        None
    }

    fn warn_juxtaposed(&mut self, t: &Token) {
        self.warn(
            t,
            "missing operator between two expressions: Keto joins them with the preceding \
             operator (\"||\" if there is none); TypeScript would reject this"
                .to_owned(),
        );
    }

    fn warn_dangling(&mut self, op: Option<&Token>) {
        if let Some(op) = op {
            self.warn(
                op,
                format!(
                    "operator {} has no right-hand operand: Keto ignores it; TypeScript would \
                     reject this",
                    go_quote(&op.val)
                ),
            );
        }
    }

    /// Keto's `parseNotExpression`; the `!` was consumed.
    fn parse_not(&mut self, depth: i32) -> Option<PChild> {
        if depth <= 0 {
            self.too_deep();
            return None;
        }
        let t = self.peek();
        let child = if t.kind == TokenKind::ParenLeft {
            self.next();
            PChild::Group(self.parse_expressions(TokenKind::ParenRight, depth - 1, Some(&t))?)
        } else {
            self.parse_call()?
        };
        Some(PChild::Not(Box::new(child)))
    }

    /// Keto's `parsePermissionExpression`: `this.related.R.includes(…)`,
    /// `this.related.R.traverse(…)` or `this.permits.P(ctx)`.
    fn parse_call(&mut self) -> Option<PChild> {
        let mut verb = Token::zero();
        if !(self.lit("this") && self.lit(".") && self.any().map(|t| verb = t).is_some()) {
            return None;
        }
        let name = self.property_any()?;
        match verb.val.as_str() {
            "related" => {
                if !self.lit(".") {
                    return None;
                }
                let t = self.next();
                match t.val.as_str() {
                    "traverse" => self.parse_traverse(name),
                    "includes" => self.parse_includes(name),
                    _ => {
                        self.fail(
                            &t,
                            format!(
                                "expected 'traverse' or 'includes', got {}",
                                go_quote(&t.val)
                            ),
                        );
                        None
                    }
                }
            }
            "permits" => {
                if !(self.lit("(") && self.lit("ctx") && self.lit(")")) {
                    return None;
                }
                self.checks.push(Check::CurrentHasRelation {
                    current: self.current.name.clone(),
                    relation: name.clone(),
                });
                Some(PChild::Computed(name.val))
            }
            _ => {
                self.fail(
                    &verb,
                    format!(
                        "expected 'related' or 'permits', got {}",
                        go_quote(&verb.val)
                    ),
                );
                None
            }
        }
    }

    /// `(x) => x.related.S.includes(ctx.subject))` or `x => x.permits.S(ctx))` after
    /// `traverse`.
    fn parse_traverse(&mut self, relation: Token) -> Option<PChild> {
        if !self.lit("(") {
            return None;
        }
        let arg = if self.peek().kind == TokenKind::ParenLeft {
            let mut arg = None;
            let ok = self.lit("(") && self.any().map(|t| arg = Some(t)).is_some() && self.lit(")");
            match (ok, arg) {
                (true, Some(arg)) => arg,
                _ => return None,
            }
        } else {
            self.any()?
        };

        let mut verb = Token::zero();
        let _ = self.lit("=>")
            && self.lit(&arg.val)
            && self.lit(".")
            && self.any().map(|t| verb = t).is_some();

        let computed = match verb.val.as_str() {
            "related" => {
                let target = self.property_name()?;
                let _ = self.lit(".")
                    && self.lit("includes")
                    && self.lit("(")
                    && self.lit("ctx")
                    && self.lit(".")
                    && self.lit("subject")
                    && self.optional(&[","])
                    && self.lit(")")
                    && self.optional(&[","])
                    && self.lit(")");
                target.val
            }
            "permits" => {
                let target = self.property_name()?;
                let _ = self.lit("(") && self.lit("ctx") && self.lit(")") && self.lit(")");
                target.val
            }
            _ => {
                // Also reached (with Go's zero token at offset 0) when the match above failed:
                // Keto then reports this as a second error.
                self.fail(
                    &verb,
                    format!(
                        "expected 'related' or 'permits', got {}",
                        go_quote(&verb.keto_display())
                    ),
                );
                return None;
            }
        };
        self.checks.push(Check::AllTypesHaveRelation {
            current: self.current.name.clone(),
            relation_type: relation.clone(),
            relation: computed.clone(),
        });
        self.checks.push(Check::CurrentHasRelation {
            current: self.current.name.clone(),
            relation: relation.clone(),
        });
        Some(PChild::TupleToSubjectSet(relation.val, computed))
    }

    /// `(ctx.subject)` after `includes`.
    fn parse_includes(&mut self, relation: Token) -> Option<PChild> {
        if !(self.lit("(")
            && self.lit("ctx")
            && self.lit(".")
            && self.lit("subject")
            && self.lit(")"))
        {
            return None;
        }
        self.checks.push(Check::CurrentHasRelation {
            current: self.current.name.clone(),
            relation: relation.clone(),
        });
        Some(PChild::Computed(relation.val))
    }
}

/// Keto's `addChild`.
fn add_child(root: Option<Level>, child: PChild) -> Level {
    match root {
        None => Level::from_first(child),
        Some(mut level) => {
            level.push(child);
            level
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn ast_depth(rw: &SubjectSetRewrite) -> usize {
        1 + rw.children.iter().map(child_ast_depth).max().unwrap_or(0)
    }

    fn child_ast_depth(c: &ast::Child) -> usize {
        match c {
            ast::Child::Rewrite(rw) => ast_depth(rw),
            ast::Child::ComputedSubjectSet { .. } | ast::Child::TupleToSubjectSet { .. } => 1,
            ast::Child::InvertResult { inverted } => 1 + child_ast_depth(inverted),
        }
    }

    /// The depth computed from the flat form must equal the depth of the built tree, since
    /// the `MAX_REWRITE_DEPTH` guard relies on it.
    #[test]
    fn flat_depth_matches_tree_depth() {
        let exprs = [
            "a",
            "a || b",
            "a && b",
            "a || b && c",
            "a || b || c && d || e",
            "a && b && c || d",
            "(a || b) && (c || (d && !e))",
            "a || (b || (c || d)) && e",
            "!(a && b) || !c",
            "a b && c (d) !e",
            "((a || b) && c) || d",
        ];
        for expr in exprs {
            let mut body = String::new();
            for ch in expr.chars() {
                if ch.is_ascii_lowercase() {
                    body.push_str(&format!("this.related.{ch}.includes(ctx.subject)"));
                } else {
                    body.push(ch);
                }
            }
            body.push(',');
            let mut p = Parser {
                tokens: lex(&body),
                pos: 0,
                namespaces: Vec::new(),
                current: empty_namespace("N".into(), Span::default()),
                errors: Vec::new(),
                warnings: Vec::new(),
                fatal: false,
                checks: Vec::new(),
            };
            let level = p
                .parse_expressions(TokenKind::Comma, EXPRESSION_NESTING_MAX_DEPTH, None)
                .unwrap();
            assert!(p.errors.is_empty(), "{expr}");
            assert_eq!(
                level.simplified_depth(),
                ast_depth(&level.simplified()),
                "{expr}"
            );
        }
    }
}
