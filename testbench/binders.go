package testbench

import (
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
)

// ModelBinders are the binders of the model protocols whose bindings live in
// their adapters: the reference backend checks the models it serves with them.
func ModelBinders() []models.Binder {
	return []models.Binder{
		modbus.ModelBinder(),
	}
}
