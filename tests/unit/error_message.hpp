// Runs a call that must throw airgap::Error and returns its message, so that
// a test can check what the message names.
#pragma once

#include <string>

#include <catch2/catch.hpp>

#include "loader/error.hpp"

template <typename Call>
std::string error_message(Call &&call)
{
	try {
		call();
	} catch (const airgap::Error &e) {
		return e.what();
	}
	FAIL("expected airgap::Error, but the call returned normally");
	return {};
}
