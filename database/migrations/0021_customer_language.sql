-- The language a customer is written to in (docs/languages.md): a language tag such as
-- "de" or "de-AT" from the seed file; NULL means none is known (English, unless the
-- complaint's intake or the customer's email says otherwise).
ALTER TABLE customers ADD COLUMN language text;
