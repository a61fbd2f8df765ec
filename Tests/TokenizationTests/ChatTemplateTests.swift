import Foundation
import Testing
import Tokenization

/// ChatML rendering, checked against the model's own template as rendered by llama.cpp.
@Suite struct ChatTemplateTests {
    @Test func smolLMTemplateAddsItsDefaultSystemMessage() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let file = TestSupport.goldenDirectory.appendingPathComponent("tokenize/06_chat_template_raw.json")
        let golden = try JSONDecoder().decode(GoldenTokenizationTests.GoldenCase.self, from: Data(contentsOf: file))
        let prompt = try tokenizer.chatTemplate().apply([.user("What is the boiling point of water?")], addGenerationPrompt: true)
        #expect(prompt == golden.text)
        #expect(try tokenizer.encodeChat([.user("What is the boiling point of water?")], template: tokenizer.chatTemplate()) == golden.ids)
    }

    @Test func givenSystemMessageReplacesTheDefault() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let prompt = try tokenizer.chatTemplate().apply(
            [.system("Be brief."), .user("Hi"), .assistant("Hello!"), .user("Bye")], addGenerationPrompt: false)
        #expect(prompt == """
            <|im_start|>system
            Be brief.<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
            Hello!<|im_end|>
            <|im_start|>user
            Bye<|im_end|>

            """)
    }

    /// A base model has no template: rendering is a typed error, never a silent ChatML.
    @Test func noTemplateIsAnError() {
        #expect(throws: ChatTemplateError.missing) { try ChatTemplate(source: nil).apply([.user("Hi")], addGenerationPrompt: true) }
        #expect(ChatTemplate(source: nil).exists == false)
    }

    /// A broken template is its error at render time, not a fallback.
    @Test func brokenTemplateIsItsError() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{% for m in messages %}").apply([.user("Hi")], addGenerationPrompt: true) }
    }

    /// An overriding template replaces the model's, with the model's BOS and EOS texts.
    @Test func overridingTemplateSeesTheModelsSpecialTokens() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let template = tokenizer.chatTemplate(overriding: "{{ eos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}")
        #expect(try template.apply([.user("Hi")], addGenerationPrompt: true) == tokenizer.eosTokenText + "[Hi]")
    }
}
