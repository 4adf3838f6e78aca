#include "loader/policy_syntax.hpp"

#include <vector>

#include "loader/error.hpp"

namespace airgap {
namespace {

enum class Token { word, string, open, close, equals, comma, newline, end };

struct Lexeme {
	Token token;
	std::string_view text;
	unsigned line;
	bool glued; // no space between this token and the one before
};

Token punctuation_token(char c)
{
	switch (c) {
	case '[':
		return Token::open;
	case ']':
		return Token::close;
	case '=':
		return Token::equals;
	default:
		return Token::comma;
	}
}

bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

class SyntaxChecker {
public:
	SyntaxChecker(std::string text, const std::string &source) : text_(std::move(text)), source_(source) {}

	std::string run()
	{
		tokenize();
		parse();
		return text_;
	}

private:
	template <typename... Args>
	[[noreturn]] void fail_line(unsigned line, fmt::format_string<Args...> format, Args &&...args)
	{
		fail("{}:{}: {}", source_, line, fmt::format(format, std::forward<Args>(args)...));
	}

	void tokenize()
	{
		unsigned line = 1;
		bool glued = false;
		std::size_t i = 0;
		while (i < text_.size()) {
			char c = text_[i];
			auto byte = static_cast<unsigned char>(c);
			if (c == '\n') {
				tokens_.push_back({Token::newline, {}, line, glued});
				line++;
				i++;
				glued = false;
			} else if (c == ' ' || c == '\t' || (c == '\r' && i + 1 < text_.size() && text_[i + 1] == '\n')) {
				i++;
				glued = false;
			} else if (c == '#') {
				// Blank the comment, whatever its bytes, so toml++ never reads them.
				while (i < text_.size() && text_[i] != '\n')
					text_[i++] = ' ';
				glued = false;
			} else if (c == '"' || c == '\'') {
				std::size_t start = i++;
				while (i < text_.size() && text_[i] != c) {
					auto inner = static_cast<unsigned char>(text_[i]);
					if (text_[i] == '\n')
						fail_line(line, "unterminated string");
					if (text_[i] == '\\')
						fail_line(line, "backslashes are not allowed in policy strings");
					if (inner < 0x20 || inner >= 0x7f)
						fail_line(line, "strings must be printable ASCII");
					i++;
				}
				if (i == text_.size())
					fail_line(line, "unterminated string");
				i++;
				tokens_.push_back({Token::string, std::string_view(text_).substr(start, i - start), line, glued});
				glued = true;
			} else if (is_word_char(c)) {
				std::size_t start = i;
				while (i < text_.size() && is_word_char(text_[i]))
					i++;
				tokens_.push_back({Token::word, std::string_view(text_).substr(start, i - start), line, glued});
				glued = true;
			} else if (c == '[' || c == ']' || c == '=' || c == ',') {
				tokens_.push_back({punctuation_token(c), std::string_view(text_).substr(i, 1), line, glued});
				i++;
				glued = true;
			} else if (byte < 0x20 || byte >= 0x7f) {
				fail_line(line, "invalid character {:#04x} outside a comment", byte);
			} else {
				fail_line(line, "unexpected '{}'", c);
			}
		}
		tokens_.push_back({Token::end, {}, line, false});
	}

	const Lexeme &peek() const { return tokens_[pos_]; }
	const Lexeme &next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

	void expect(Token token, const char *what)
	{
		const Lexeme &lexeme = next();
		if (lexeme.token != token)
			fail_line(lexeme.line, "expected {}", what);
	}

	void skip_newlines()
	{
		while (peek().token == Token::newline)
			next();
	}

	void parse()
	{
		for (;;) {
			skip_newlines();
			const Lexeme &first = peek();
			if (first.token == Token::end)
				return;
			if (first.token == Token::open)
				parse_header();
			else if (first.token == Token::word)
				parse_key_value();
			else
				fail_line(first.line, "expected a [table] header or a key = value line");
			const Lexeme &after = next();
			if (after.token != Token::newline && after.token != Token::end)
				fail_line(after.line, "expected the end of the line");
		}
	}

	void parse_header()
	{
		unsigned line = next().line;
		bool array = peek().token == Token::open && peek().glued;
		if (array)
			next();
		const Lexeme &name = next();
		if (name.token != Token::word)
			fail_line(line, "expected a table name after '['");
		expect(Token::close, "']' after the table name");
		if (array) {
			const Lexeme &close = next();
			if (close.token != Token::close || !close.glued)
				fail_line(line, "expected ']]' after the table name");
		}
	}

	void parse_key_value()
	{
		next();
		expect(Token::equals, "'=' after the key");
		if (peek().token != Token::open) {
			parse_scalar();
			return;
		}
		next();
		for (;;) {
			skip_newlines();
			if (peek().token == Token::close)
				break;
			parse_scalar();
			skip_newlines();
			if (peek().token == Token::comma) {
				next();
				continue;
			}
			if (peek().token != Token::close)
				fail_line(peek().line, "expected ',' or ']' in the array");
		}
		next();
	}

	void parse_scalar()
	{
		const Lexeme &value = next();
		if (value.token == Token::string)
			return;
		if (value.token == Token::word) {
			bool digits = value.text.find_first_not_of("0123456789") == std::string_view::npos;
			if (digits || value.text == "true" || value.text == "false")
				return;
		}
		fail_line(value.line, "expected a string, a number, true or false");
	}

	std::string text_;
	const std::string &source_;
	std::vector<Lexeme> tokens_;
	std::size_t pos_ = 0;
};

} // namespace

std::string check_policy_syntax(std::string_view text, const std::string &source)
{
	return SyntaxChecker(std::string(text), source).run();
}

} // namespace airgap
